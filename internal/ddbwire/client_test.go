package ddbwire

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// sampleInput is an UpdateItem as the keepalive sends it, with a string that needs escaping.
func sampleInput() *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String("t1"),
		Key:                                 map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: "SESSION#s1"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "SESSION"}},
		UpdateExpression:                    aws.String("SET #lk = :now, #conn = :t"),
		ConditionExpression:                 aws.String("attribute_exists(#pk) AND #kt <> :kt"),
		ExpressionAttributeNames:            map[string]string{"#lk": "last_keepalive_at_ms", "#conn": "connected", "#pk": "PK", "#kt": "kt"},
		ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":now": &ddbtypes.AttributeValueMemberN{Value: "1700000000000"}, ":t": &ddbtypes.AttributeValueMemberBOOL{Value: true}, ":kt": &ddbtypes.AttributeValueMemberS{Value: "a\"b\\c\n\x01é\xff"}, ":n": &ddbtypes.AttributeValueMemberNULL{Value: true}},
		ReturnValues:                        ddbtypes.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

func TestEncodeUpdateItem(t *testing.T) {
	b, err := encodeUpdateItem(sampleInput())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	want := map[string]any{
		"TableName":                           "t1",
		"Key":                                 map[string]any{"PK": map[string]any{"S": "SESSION#s1"}, "SK": map[string]any{"S": "SESSION"}},
		"UpdateExpression":                    "SET #lk = :now, #conn = :t",
		"ConditionExpression":                 "attribute_exists(#pk) AND #kt <> :kt",
		"ExpressionAttributeNames":            map[string]any{"#lk": "last_keepalive_at_ms", "#conn": "connected", "#pk": "PK", "#kt": "kt"},
		"ExpressionAttributeValues":           map[string]any{":now": map[string]any{"N": "1700000000000"}, ":t": map[string]any{"BOOL": true}, ":kt": map[string]any{"S": "a\"b\\c\n\x01é\ufffd"}, ":n": map[string]any{"NULL": true}},
		"ReturnValues":                        "UPDATED_NEW",
		"ReturnValuesOnConditionCheckFailure": "ALL_OLD",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %s\nwant %v", b, want)
	}
}

func TestEncodeUpdateItemRefusesWhatItCannotWrite(t *testing.T) {
	tests := []struct {
		name string
		edit func(*dynamodb.UpdateItemInput)
	}{
		{"a map value", func(in *dynamodb.UpdateItemInput) {
			in.ExpressionAttributeValues[":m"] = &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{}}
		}},
		{"consumed capacity", func(in *dynamodb.UpdateItemInput) { in.ReturnConsumedCapacity = ddbtypes.ReturnConsumedCapacityTotal }},
		{"no table", func(in *dynamodb.UpdateItemInput) { in.TableName = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleInput()
			tc.edit(in)
			if _, err := encodeUpdateItem(in); !errors.Is(err, ErrUnsupported) {
				t.Errorf("err = %v, want ErrUnsupported", err)
			}
		})
	}
}

// TestSignMatchesTheSDK signs the same request with this package and with the SDK's SigV4
// signer, with long-term and with temporary credentials, and compares the headers.
func TestSignMatchesTheSDK(t *testing.T) {
	for _, creds := range []aws.Credentials{
		{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
		{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token/with+chars=="},
	} {
		t.Run(creds.AccessKeyID, func(t *testing.T) {
			body, err := encodeUpdateItem(sampleInput())
			if err != nil {
				t.Fatal(err)
			}
			c := &Client{host: "dynamodb.eu-west-1.amazonaws.com", region: "eu-west-1"}
			at := time.Date(2026, 12, 6, 4, 5, 6, 0, time.UTC)
			newReq := func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, "https://dynamodb.eu-west-1.amazonaws.com/", strings.NewReader(string(body)))
				r.Header["Content-Type"] = []string{contentType}
				r.Header["X-Amz-Target"] = []string{targetUpdateItem}
				return r
			}
			mine := newReq()
			c.sign(mine, creds, targetUpdateItem, payloadHash(body), at)
			sdk := newReq()
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, sdk, payloadHash(body), "dynamodb", "eu-west-1", at); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
				if got, want := mine.Header.Get(h), sdk.Header.Get(h); got != want {
					t.Errorf("%s = %q\nthe SDK's %q", h, got, want)
				}
			}
			// The cached key serves the same day again; a new day derives a new one.
			again := newReq()
			c.sign(again, creds, targetUpdateItem, payloadHash(body), at)
			if again.Header.Get("Authorization") != mine.Header.Get("Authorization") {
				t.Errorf("signed again with the cached key: %q, first %q", again.Header.Get("Authorization"), mine.Header.Get("Authorization"))
			}
			next := at.Add(24 * time.Hour)
			mine2, sdk2 := newReq(), newReq()
			c.sign(mine2, creds, targetUpdateItem, payloadHash(body), next)
			_ = v4.NewSigner().SignHTTP(context.Background(), creds, sdk2, payloadHash(body), "dynamodb", "eu-west-1", next)
			if got, want := mine2.Header.Get("Authorization"), sdk2.Header.Get("Authorization"); got != want {
				t.Errorf("next day: %q\nthe SDK's %q", got, want)
			}
		})
	}
}

// fakeDynamoDB answers the requests in turn with the answers given (status, body), the last
// one again when they run out, and counts them.
type fakeDynamoDB struct {
	answers []fakeAnswer
	n       atomic.Int32
	badCRC  bool
}

type fakeAnswer struct {
	status int
	body   string
}

func (f *fakeDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	i := int(f.n.Add(1)) - 1
	a := f.answers[min(i, len(f.answers)-1)]
	crc := crc32.ChecksumIEEE([]byte(a.body))
	if f.badCRC && i == 0 {
		crc++
	}
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc), 10))
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// newTestClient is a Client on a fake DynamoDB, built from SDK options as the service builds
// them, with retries that do not wait.
func newTestClient(t *testing.T, f *fakeDynamoDB) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
		HTTPClient: srv.Client(),
	})
	c, err := New(context.Background(), db.Options())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpdateItemAnswers(t *testing.T) {
	const (
		ok          = `{"Attributes":{"expires_at_ms":{"N":"5"},"connected":{"BOOL":true},"kt":{"S":"x"},"m":{"M":{"a":{"L":[{"N":"1"},{"NULL":true}]}}},"ss":{"SS":["a","b"]},"b":{"B":"AQI="}}}`
		condFailed  = `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"PK":{"S":"SESSION#s1"},"status":{"S":"paused"}}}`
		throttled   = `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`
		throughput  = `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"too fast"}`
		serverError = `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"oops"}`
		validation  = `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad expression"}`
	)
	wantItem := map[string]ddbtypes.AttributeValue{
		"expires_at_ms": &ddbtypes.AttributeValueMemberN{Value: "5"},
		"connected":     &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"kt":            &ddbtypes.AttributeValueMemberS{Value: "x"},
		"m": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"a": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
			&ddbtypes.AttributeValueMemberN{Value: "1"}, &ddbtypes.AttributeValueMemberNULL{Value: true}}}}},
		"ss": &ddbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"b":  &ddbtypes.AttributeValueMemberB{Value: []byte{1, 2}},
	}
	tests := []struct {
		name     string
		answers  []fakeAnswer
		badCRC   bool
		requests int32
		check    func(t *testing.T, out *dynamodb.UpdateItemOutput, err error)
	}{
		{"success", []fakeAnswer{{200, ok}}, false, 1, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			if err != nil || !reflect.DeepEqual(out.Attributes, wantItem) {
				t.Errorf("UpdateItem = %#v, %v; want %#v", out, err, wantItem)
			}
		}},
		{"conditional check failed, with the old item", []fakeAnswer{{400, condFailed}}, false, 1, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			var cf *ddbtypes.ConditionalCheckFailedException
			if !errors.As(err, &cf) {
				t.Fatalf("err = %v, want ConditionalCheckFailedException", err)
			}
			if s, _ := cf.Item["status"].(*ddbtypes.AttributeValueMemberS); s == nil || s.Value != "paused" {
				t.Errorf("old item = %#v, want status paused", cf.Item)
			}
			var oe *smithy.OperationError
			if !errors.As(err, &oe) || oe.Operation() != "UpdateItem" || oe.Service() != "DynamoDB" {
				t.Errorf("err = %#v, want the SDK's OperationError", err)
			}
		}},
		{"throttled every time: the retryer's attempts, then its error", []fakeAnswer{{400, throttled}}, false, 3, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			var th *ddbtypes.ThrottlingException
			var max *retry.MaxAttemptsError
			if !errors.As(err, &th) || !errors.As(err, &max) {
				t.Errorf("err = %v, want ThrottlingException after max attempts", err)
			}
		}},
		{"throughput exceeded, then success", []fakeAnswer{{400, throughput}, {200, ok}}, false, 2, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			if err != nil || out.Attributes == nil {
				t.Errorf("UpdateItem = %v, %v; want success on the second attempt", out, err)
			}
		}},
		{"server error, then success", []fakeAnswer{{500, serverError}, {200, ok}}, false, 2, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			if err != nil || out.Attributes == nil {
				t.Errorf("UpdateItem = %v, %v; want success on the second attempt", out, err)
			}
		}},
		{"bare 503, then success", []fakeAnswer{{503, ""}, {200, ok}}, false, 2, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			if err != nil {
				t.Errorf("UpdateItem = %v, %v; want success on the second attempt", out, err)
			}
		}},
		{"validation: not retried", []fakeAnswer{{400, validation}}, false, 1, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || ae.ErrorMessage() != "bad expression" || ae.ErrorFault() != smithy.FaultClient {
				t.Errorf("err = %v, want ValidationException", err)
			}
		}},
		{"corrupted answer: sent again", []fakeAnswer{{200, ok}}, true, 2, func(t *testing.T, out *dynamodb.UpdateItemOutput, err error) {
			if err != nil || out.Attributes == nil {
				t.Errorf("UpdateItem = %v, %v; want success on the second attempt", out, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDynamoDB{answers: tc.answers, badCRC: tc.badCRC}
			c := newTestClient(t, f)
			out, err := c.UpdateItem(context.Background(), sampleInput())
			tc.check(t, out, err)
			if got := f.n.Load(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
		})
	}
}

// TestRequestShape checks what reaches the server: the operation, the content type, the
// signature's parts and the body.
func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "TOKEN"), Retryer: retry.NewStandard(), HTTPClient: srv.Client()})
	c, err := New(context.Background(), db.Options())
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.UpdateItem(context.Background(), sampleInput())
	if err != nil || out.Attributes != nil {
		t.Fatalf("UpdateItem = %v, %v", out, err)
	}
	want, _ := encodeUpdateItem(sampleInput())
	var gotBody, wantBody any
	_ = json.Unmarshal(body, &gotBody)
	_ = json.Unmarshal(want, &wantBody)
	if got.Method != http.MethodPost || got.URL.Path != "/" || got.Header.Get("X-Amz-Target") != targetUpdateItem ||
		got.Header.Get("Content-Type") != contentType || got.Header.Get("X-Amz-Security-Token") != "TOKEN" || !reflect.DeepEqual(gotBody, wantBody) {
		t.Errorf("request %s %s %v\n%s", got.Method, got.URL, got.Header, body)
	}
	if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(a, "/us-east-1/dynamodb/aws4_request") {
		t.Errorf("Authorization = %q", a)
	}
}

// TestDecodeFlat checks the reflection-free decoder against the general one: the same map
// for the answers it takes, and a refusal (the general decoder's turn) for the others.
func TestDecodeFlat(t *testing.T) {
	tests := []struct {
		name string
		body string
		flat bool
	}{
		{"empty answer", `{}`, true},
		{"updated new", `{"Attributes":{"expires_at_ms":{"N":"1700000060000"},"connected":{"BOOL":true},"kt":{"S":"abc.1"},"ka_interval_s":{"N":"300"}}}`, true},
		{"white space, false, null", " {\n \"Attributes\" : { \"a\" : { \"BOOL\" : false } , \"n\":{\"NULL\":true}} }\n", true},
		{"no attributes", `{"Attributes":{}}`, true},
		{"an escaped string", `{"Attributes":{"s":{"S":"a\"b"}}}`, false},
		{"a map", `{"Attributes":{"m":{"M":{"a":{"N":"1"}}}}}`, false},
		{"a string set", `{"Attributes":{"ss":{"SS":["a"]}}}`, false},
		{"another field", `{"ConsumedCapacity":{"CapacityUnits":1}}`, false},
		{"truncated", `{"Attributes":{"a":{"N":"1"}}`, false},
		{"trailing bytes", `{"Attributes":{"a":{"N":"1"}}}x`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decodeFlat([]byte(tc.body))
			if ok != tc.flat {
				t.Fatalf("decodeFlat ok = %v, want %v", ok, tc.flat)
			}
			var general struct {
				Attributes map[string]wireValue `json:"Attributes"`
			}
			if err := json.Unmarshal([]byte(tc.body), &general); err != nil {
				if ok {
					t.Fatalf("decodeFlat took an answer that is not JSON: %v", err)
				}
				return
			}
			want, err := values(general.Attributes)
			if err != nil {
				t.Fatal(err)
			}
			if ok && !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("decodeFlat = %#v\nthe general decoder %#v", got, want)
			}
			all, err := decodeAttributes([]byte(tc.body))
			if err != nil || !reflect.DeepEqual(all, want) && !(len(all) == 0 && len(want) == 0) {
				t.Errorf("decodeAttributes = %#v, %v; want %#v", all, err, want)
			}
		})
	}
}

// countingProvider hands out credentials that expire at the time its clock says, counting calls.
type countingProvider struct {
	n       atomic.Int32
	expires time.Time
}

func (p *countingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	n := p.n.Add(1)
	return aws.Credentials{AccessKeyID: "AKID" + strconv.Itoa(int(n)), SecretAccessKey: "SECRET", SessionToken: "T", CanExpire: true, Expires: p.expires}, nil
}

// TestCredentialsCachedAndRefreshed: a request takes the cached credentials while they are
// valid, and fresh ones once they have expired (as Lambda's are refreshed).
func TestCredentialsCachedAndRefreshed(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	p := &countingProvider{expires: time.Now().Add(time.Hour)}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: p, Retryer: retry.NewStandard(), HTTPClient: srv.Client()})
	c, err := New(context.Background(), db.Options())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.UpdateItem(context.Background(), sampleInput()); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.n.Load(); got != 1 {
		t.Errorf("provider called %d times for two requests with valid credentials, want 1", got)
	}
	p.expires = time.Now().Add(-time.Minute)
	c.creds.(*aws.CredentialsCache).Invalidate() // as if the hour had passed
	if _, err := c.UpdateItem(context.Background(), sampleInput()); err != nil {
		t.Fatal(err)
	}
	if got := p.n.Load(); got != 2 || !strings.Contains(auth[2], "Credential=AKID2/") {
		t.Errorf("after expiry: provider called %d times, Authorization %q; want fresh credentials AKID2", got, auth[2])
	}
}
