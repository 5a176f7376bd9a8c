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
