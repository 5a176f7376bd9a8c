package ddbwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// wireValue is an attribute value as DynamoDB's JSON writes it.
type wireValue struct {
	S    *string              `json:"S"`
	N    *string              `json:"N"`
	B    []byte               `json:"B"`
	BOOL *bool                `json:"BOOL"`
	NULL *bool                `json:"NULL"`
	M    map[string]wireValue `json:"M"`
	L    []wireValue          `json:"L"`
	SS   []string             `json:"SS"`
	NS   []string             `json:"NS"`
	BS   [][]byte             `json:"BS"`
}

func (w *wireValue) value() (ddbtypes.AttributeValue, error) {
	switch {
	case w.S != nil:
		return &ddbtypes.AttributeValueMemberS{Value: *w.S}, nil
	case w.N != nil:
		return &ddbtypes.AttributeValueMemberN{Value: *w.N}, nil
	case w.BOOL != nil:
		return &ddbtypes.AttributeValueMemberBOOL{Value: *w.BOOL}, nil
	case w.NULL != nil:
		return &ddbtypes.AttributeValueMemberNULL{Value: *w.NULL}, nil
	case w.B != nil:
		return &ddbtypes.AttributeValueMemberB{Value: w.B}, nil
	case w.M != nil:
		m, err := values(w.M)
		return &ddbtypes.AttributeValueMemberM{Value: m}, err
	case w.L != nil:
		l := make([]ddbtypes.AttributeValue, len(w.L))
		for i := range w.L {
			v, err := w.L[i].value()
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}, nil
	case w.SS != nil:
		return &ddbtypes.AttributeValueMemberSS{Value: w.SS}, nil
	case w.NS != nil:
		return &ddbtypes.AttributeValueMemberNS{Value: w.NS}, nil
	case w.BS != nil:
		return &ddbtypes.AttributeValueMemberBS{Value: w.BS}, nil
	}
	return nil, errors.New("attribute value of no known type")
}

func values(m map[string]wireValue) (map[string]ddbtypes.AttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]ddbtypes.AttributeValue, len(m))
	for k, w := range m {
		v, err := w.value()
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// decodeAttributes reads the Attributes of an UpdateItem answer (nil when it has none).
func decodeAttributes(b []byte) (map[string]ddbtypes.AttributeValue, error) {
	if m, ok := decodeFlat(b); ok {
		return m, nil
	}
	var out struct {
		Attributes map[string]wireValue `json:"Attributes"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return values(out.Attributes)
}

// decodeError turns a DynamoDB error answer into the error the SDK returns for it: the
// modelled exception of its code (with the old item for a failed condition), else a
// smithy.GenericAPIError, its fault the server's for a 5xx status.
func decodeError(resp *http.Response, b []byte) error {
	var e struct {
		Type     string               `json:"__type"`
		Message  string               `json:"message"`
		MessageU string               `json:"Message"`
		Item     map[string]wireValue `json:"Item"`
	}
	_ = json.Unmarshal(b, &e) // an answer that is not JSON keeps its status only
	code := e.Type
	if code == "" {
		code = resp.Header.Get("X-Amzn-Errortype")
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	msg := e.Message
	if msg == "" {
		msg = e.MessageU
	}
	m := &msg
	switch code {
	case "ConditionalCheckFailedException":
		item, err := values(e.Item)
		if err != nil {
			return &smithy.DeserializationError{Err: err, Snapshot: b}
		}
		return &ddbtypes.ConditionalCheckFailedException{Message: m, Item: item}
	case "ProvisionedThroughputExceededException":
		return &ddbtypes.ProvisionedThroughputExceededException{Message: m}
	case "ThrottlingException":
		return &ddbtypes.ThrottlingException{Message: m}
	case "RequestLimitExceeded":
		return &ddbtypes.RequestLimitExceeded{Message: m}
	case "InternalServerError":
		return &ddbtypes.InternalServerError{Message: m}
	case "ResourceNotFoundException":
		return &ddbtypes.ResourceNotFoundException{Message: m}
	case "TransactionConflictException":
		return &ddbtypes.TransactionConflictException{Message: m}
	case "ItemCollectionSizeLimitExceededException":
		return &ddbtypes.ItemCollectionSizeLimitExceededException{Message: m}
	case "ReplicatedWriteConflictException":
		return &ddbtypes.ReplicatedWriteConflictException{Message: m}
	}
	if code == "" {
		code = "UnknownError"
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
	}
	fault := smithy.FaultClient
	if resp.StatusCode >= 500 {
		fault = smithy.FaultServer
	}
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault}
}

// decodeFlat reads the common answer without reflection: {} or {"Attributes":{…}} whose
// values are all strings, numbers, booleans or nulls, with no escapes in their strings (what
// the keepalive's UPDATED_NEW and its session item are). ok false sends the caller to the
// general decoder.
func decodeFlat(b []byte) (m map[string]ddbtypes.AttributeValue, ok bool) {
	p := flatParser{b: b}
	if !p.byte('{') {
		return nil, false
	}
	if p.byte('}') {
		return nil, p.end()
	}
	if k, ok := p.str(); !ok || k != "Attributes" || !p.byte(':') || !p.byte('{') {
		return nil, false
	}
	m = make(map[string]ddbtypes.AttributeValue, 12)
	if p.byte('}') {
		return m, p.byte('}') && p.end()
	}
	for {
		name, ok := p.str()
		if !ok || !p.byte(':') || !p.byte('{') {
			return nil, false
		}
		typ, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		switch typ {
		case "S", "N":
			v, ok := p.str()
			if !ok {
				return nil, false
			}
			if typ == "S" {
				m[name] = &ddbtypes.AttributeValueMemberS{Value: v}
			} else {
				m[name] = &ddbtypes.AttributeValueMemberN{Value: v}
			}
		case "BOOL":
			switch {
			case p.lit("true"):
				m[name] = &ddbtypes.AttributeValueMemberBOOL{Value: true}
			case p.lit("false"):
				m[name] = &ddbtypes.AttributeValueMemberBOOL{Value: false}
			default:
				return nil, false
			}
		case "NULL":
			if !p.lit("true") {
				return nil, false
			}
			m[name] = &ddbtypes.AttributeValueMemberNULL{Value: true}
		default:
			return nil, false
		}
		if !p.byte('}') {
			return nil, false
		}
		if p.byte(',') {
			continue
		}
		// The attributes' closing brace, then the answer's.
		if !p.byte('}') {
			return nil, false
		}
		return m, p.byte('}') && p.end()
	}
}

// flatParser is decodeFlat's cursor over the answer.
type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) skip() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\r' || p.b[p.i] == '\t') {
		p.i++
	}
}

// byte consumes c (after white space) when it is next.
func (p *flatParser) byte(c byte) bool {
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// lit consumes the literal s when it is next.
func (p *flatParser) lit(s string) bool {
	p.skip()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str consumes a string with no escapes and no control characters.
func (p *flatParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	for j := p.i; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := string(p.b[p.i:j])
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// end reports whether only white space is left.
func (p *flatParser) end() bool {
	p.skip()
	return p.i == len(p.b)
}
