package ddbwire

import (
	"fmt"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// encodeUpdateItem writes in as the JSON body of UpdateItem (map entries in the maps' order:
// a retry resends the same bytes).
func encodeUpdateItem(in *dynamodb.UpdateItemInput) ([]byte, error) {
	if in.TableName == nil || len(in.Key) == 0 {
		return nil, fmt.Errorf("%w: UpdateItem needs TableName and Key", ErrUnsupported)
	}
	if in.AttributeUpdates != nil || in.Expected != nil || in.ConditionalOperator != "" ||
		in.ReturnConsumedCapacity != "" || in.ReturnItemCollectionMetrics != "" {
		return nil, fmt.Errorf("%w: legacy parameters, consumed capacity or item collection metrics", ErrUnsupported)
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"TableName":`...)
	b = appendString(b, *in.TableName)
	b = append(b, `,"Key":`...)
	var err error
	if b, err = appendValues(b, in.Key); err != nil {
		return nil, err
	}
	if in.UpdateExpression != nil {
		b = append(b, `,"UpdateExpression":`...)
		b = appendString(b, *in.UpdateExpression)
	}
	if in.ConditionExpression != nil {
		b = append(b, `,"ConditionExpression":`...)
		b = appendString(b, *in.ConditionExpression)
	}
	if in.ExpressionAttributeNames != nil {
		b = append(b, `,"ExpressionAttributeNames":{`...)
		first := true
		for k, v := range in.ExpressionAttributeNames {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
		b = append(b, '}')
	}
	if in.ExpressionAttributeValues != nil {
		b = append(b, `,"ExpressionAttributeValues":`...)
		if b, err = appendValues(b, in.ExpressionAttributeValues); err != nil {
			return nil, err
		}
	}
	if in.ReturnValues != "" {
		b = append(b, `,"ReturnValues":`...)
		b = appendString(b, string(in.ReturnValues))
	}
	if in.ReturnValuesOnConditionCheckFailure != "" {
		b = append(b, `,"ReturnValuesOnConditionCheckFailure":`...)
		b = appendString(b, string(in.ReturnValuesOnConditionCheckFailure))
	}
	return append(b, '}'), nil
}

// appendValues writes a map of attribute values: strings, numbers, booleans and nulls.
func appendValues(b []byte, m map[string]ddbtypes.AttributeValue) ([]byte, error) {
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			b = append(b, `:{"S":`...)
			b = appendString(b, v.Value)
		case *ddbtypes.AttributeValueMemberN:
			b = append(b, `:{"N":`...)
			b = appendString(b, v.Value)
		case *ddbtypes.AttributeValueMemberBOOL:
			b = append(b, `:{"BOOL":`...)
			if v.Value {
				b = append(b, "true"...)
			} else {
				b = append(b, "false"...)
			}
		case *ddbtypes.AttributeValueMemberNULL:
			b = append(b, `:{"NULL":true`...)
		default:
			return nil, fmt.Errorf("%w: attribute value %s of type %T", ErrUnsupported, k, v)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendString writes s as a JSON string (invalid UTF-8 as U+FFFD, as encoding/json does).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
