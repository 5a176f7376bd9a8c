package ddbwire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The request's SigV4 signature (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html)
// for the one shape this package sends: POST to the endpoint's path, no query, the body's
// SHA-256 as the payload hash, and these headers signed (the SDK's signer signs the same for
// the same request: TestSignMatchesTheSDK).
const (
	signingService   = "dynamodb"
	signingAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
)

// payloadHash is the hex SHA-256 of a body.
func payloadHash(body []byte) string {
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

// sign sets X-Amz-Date, X-Amz-Security-Token (temporary credentials) and Authorization on
// req, whose Content-Type and X-Amz-Target are set and whose body hashes to hash.
func (c *Client) sign(req *http.Request, creds aws.Credentials, target, hash string, t time.Time) {
	amzDate := t.Format(amzDateFormat)
	day := amzDate[:8]
	h := req.Header
	h["X-Amz-Date"] = []string{amzDate}
	signed := "content-length;content-type;host;x-amz-date;x-amz-target"
	if creds.SessionToken != "" {
		h["X-Amz-Security-Token"] = []string{creds.SessionToken}
		signed = "content-length;content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
	}
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b := make([]byte, 0, 512)
	b = append(b, "POST\n"...)
	b = append(b, path...)
	b = append(b, "\n\ncontent-length:"...)
	b = strconv.AppendInt(b, req.ContentLength, 10)
	b = append(b, "\ncontent-type:"...)
	b = append(b, contentType...)
	b = append(b, "\nhost:"...)
	b = append(b, c.host...)
	b = append(b, "\nx-amz-date:"...)
	b = append(b, amzDate...)
	if creds.SessionToken != "" {
		b = append(b, "\nx-amz-security-token:"...)
		b = append(b, creds.SessionToken...)
	}
	b = append(b, "\nx-amz-target:"...)
	b = append(b, target...)
	b = append(b, "\n\n"...)
	b = append(b, signed...)
	b = append(b, '\n')
	b = append(b, hash...)
	canonical := sha256.Sum256(b)

	scope := day + "/" + c.region + "/" + signingService + "/aws4_request"
	b = b[:0]
	b = append(b, signingAlgorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonical[:])
	mac := hmac.New(sha256.New, c.keys.get(creds, day, c.region))
	mac.Write(b)
	var sum [sha256.Size]byte
	sig := mac.Sum(sum[:0])

	b = b[:0]
	b = append(b, signingAlgorithm+" Credential="...)
	b = append(b, creds.AccessKeyID...)
	b = append(b, '/')
	b = append(b, scope...)
	b = append(b, ", SignedHeaders="...)
	b = append(b, signed...)
	b = append(b, ", Signature="...)
	b = hex.AppendEncode(b, sig)
	h["Authorization"] = []string{string(b)}
}

// signingKeys caches the signing key of the current day and credentials: it is derived by
// four HMACs from the secret, the day, the region and the service.
type signingKeys struct{ cur atomic.Pointer[signingKey] }

type signingKey struct {
	secret, day, region string
	key                 []byte
}

func (s *signingKeys) get(creds aws.Credentials, day, region string) []byte {
	if k := s.cur.Load(); k != nil && k.day == day && k.secret == creds.SecretAccessKey && k.region == region {
		return k.key
	}
	key := hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, signingService)
	key = hmacSHA256(key, "aws4_request")
	s.cur.Store(&signingKey{secret: creds.SecretAccessKey, day: day, region: region, key: key})
	return key
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
