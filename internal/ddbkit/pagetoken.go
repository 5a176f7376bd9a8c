package ddbkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/policy"
)

// pageKey is one attribute of a page token: its DynamoDB type (S or N) and value.
type pageKey struct {
	T string `json:"t"`
	V string `json:"v"`
}

// EncodePageToken makes an opaque token of a LastEvaluatedKey; "" when there is none.
func EncodePageToken(last map[string]ddbtypes.AttributeValue) (string, error) {
	if len(last) == 0 {
		return "", nil
	}
	m := make(map[string]pageKey, len(last))
	for name, v := range last {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			m[name] = pageKey{T: "S", V: v.Value}
		case *ddbtypes.AttributeValueMemberN:
			m[name] = pageKey{T: "N", V: v.Value}
		default:
			return "", fmt.Errorf("page key attribute %s has an unexpected type", name)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode page token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Page tokens are not signed: a token only says where a listing the caller may already read
// continues, and the partition a listing is confined to is pinned (a user's token cannot page
// into another user's sessions). What a forged token must not do is reach DynamoDB with a start
// key it refuses (ValidationException: a wrong type, an empty or oversized key, a sort key
// outside the query's range), so DecodePageToken checks each attribute against the shape the
// listing's own LastEvaluatedKey has, and PageTokenError maps whatever DynamoDB still refuses
// to the same 400. See the README, "Hostile input".

// The longest key values DynamoDB accepts, in bytes.
const (
	MaxPartitionKeyBytes = 2048
	MaxSortKeyBytes      = 1024
)

// PageAttr is what one attribute of a page token must be.
type PageAttr struct {
	Num    bool   // an N (a whole number from 0 to MaxNum) rather than an S
	MaxNum int64  // the largest N accepted
	Pin    string // the exact S value, "" for any
	Prefix string // a prefix every S value has
	Max    int    // the most bytes of an S value
}

// errBadPageToken is the answer to a page token that is not one the listing returned.
func errBadPageToken(cause error) error {
	return &policy.Error{Kind: policy.KindInvalid, Code: policy.CodeInvalidPageToken, Field: "page_token",
		Message: "the page token is not one this listing returned", Err: cause}
}

// PageTokenError is StoreError for a listing read with a page token: a ValidationException,
// which only a start key DynamoDB refuses can cause there, is the caller's bad token (400).
func PageTokenError(tok string, err error) error {
	if tok != "" && IsValidation(err) {
		return errBadPageToken(err)
	}
	return StoreError(err)
}

// DecodePageToken turns a token back into an ExclusiveStartKey. shape lists the attributes the
// token must have and what each must be (see PageAttr); anything else is a 400 naming
// page_token. nil for "".
func DecodePageToken(tok string, shape map[string]PageAttr) (map[string]ddbtypes.AttributeValue, error) {
	if tok == "" {
		return nil, nil
	}
	bad := errBadPageToken(nil)
	if len(tok) > 8192 {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, bad
	}
	var m map[string]pageKey
	if json.Unmarshal(raw, &m) != nil || len(m) != len(shape) {
		return nil, bad
	}
	out := make(map[string]ddbtypes.AttributeValue, len(m))
	for name, want := range shape {
		k, ok := m[name]
		if !ok || k.V == "" {
			return nil, bad
		}
		if want.Num {
			n, err := strconv.ParseInt(k.V, 10, 64)
			if k.T != "N" || err != nil || n < 0 || n > want.MaxNum || strconv.FormatInt(n, 10) != k.V {
				return nil, bad
			}
			out[name] = &ddbtypes.AttributeValueMemberN{Value: k.V}
			continue
		}
		switch {
		case k.T != "S", !utf8.ValidString(k.V),
			want.Pin != "" && k.V != want.Pin,
			want.Pin == "" && (len(k.V) > want.Max || !strings.HasPrefix(k.V, want.Prefix) || k.V == want.Prefix):
			return nil, bad
		}
		out[name] = &ddbtypes.AttributeValueMemberS{Value: k.V}
	}
	return out, nil
}
