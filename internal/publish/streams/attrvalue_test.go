package streams

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Every DynamoDB type, nested, in the stream's JSON form and as the SDK's item.
const allTypesJSON = `{
	"s":    {"S": "text"},
	"n":    {"N": "-12.5"},
	"b":    {"B": "AAEqQQ=="},
	"t":    {"BOOL": true},
	"null": {"NULL": true},
	"ss":   {"SS": ["a", "b"]},
	"ns":   {"NS": ["1", "2"]},
	"bs":   {"BS": ["AAEqQQ==", "QSoBAA=="]},
	"l":    {"L": [{"S": "x"}, {"N": "1"}, {"L": []}]},
	"m":    {"M": {"inner": {"M": {"deep": {"BOOL": false}}}, "empty": {"M": {}}}}
}`

func allTypesItem() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"s":    &types.AttributeValueMemberS{Value: "text"},
		"n":    &types.AttributeValueMemberN{Value: "-12.5"},
		"b":    &types.AttributeValueMemberB{Value: []byte{0, 1, 42, 65}},
		"t":    &types.AttributeValueMemberBOOL{Value: true},
		"null": &types.AttributeValueMemberNULL{Value: true},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":   &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{0, 1, 42, 65}, {65, 42, 1, 0}}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "1"},
			&types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"deep": &types.AttributeValueMemberBOOL{Value: false},
			}},
			"empty": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		}},
	}
}

func TestItemFromImage(t *testing.T) {
	var fromJSON map[string]events.DynamoDBAttributeValue
	if err := json.Unmarshal([]byte(allTypesJSON), &fromJSON); err != nil {
		t.Fatalf("unmarshal image: %v", err)
	}
	tests := []struct {
		name  string
		image map[string]events.DynamoDBAttributeValue
		want  map[string]types.AttributeValue
	}{
		{name: "stream JSON, every type", image: fromJSON, want: allTypesItem()},
		{name: "no image", image: nil, want: nil},
		{name: "empty image", image: map[string]events.DynamoDBAttributeValue{}, want: map[string]types.AttributeValue{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ItemFromImage(tc.image)
			if err != nil {
				t.Fatalf("ItemFromImage: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestItemFromImageMalformed(t *testing.T) {
	image := map[string]events.DynamoDBAttributeValue{
		"m": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"zero": {}}),
	}
	_, err := ItemFromImage(image)
	if err == nil || !strings.Contains(err.Error(), "attribute m: attribute zero: malformed") {
		t.Errorf("got error %v, want a malformed attribute m.zero", err)
	}
}

// The converted item is what the SDK's decoder takes.
func TestItemFromImageUnmarshalMap(t *testing.T) {
	var image map[string]events.DynamoDBAttributeValue
	if err := json.Unmarshal([]byte(allTypesJSON), &image); err != nil {
		t.Fatalf("unmarshal image: %v", err)
	}
	item, err := ItemFromImage(image)
	if err != nil {
		t.Fatalf("ItemFromImage: %v", err)
	}
	var got struct {
		S  string         `dynamodbav:"s"`
		N  float64        `dynamodbav:"n"`
		B  []byte         `dynamodbav:"b"`
		T  bool           `dynamodbav:"t"`
		SS []string       `dynamodbav:"ss,stringset"`
		L  []any          `dynamodbav:"l"`
		M  map[string]any `dynamodbav:"m"`
	}
	if err := attributevalue.UnmarshalMap(item, &got); err != nil {
		t.Fatalf("UnmarshalMap: %v", err)
	}
	if got.S != "text" || got.N != -12.5 || string(got.B) != "\x00\x01*A" || !got.T || len(got.SS) != 2 || len(got.L) != 3 || len(got.M) != 2 {
		t.Errorf("got %+v, want the fixture's values", got)
	}
}
