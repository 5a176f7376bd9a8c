package ddbstore_test

import (
	"context"
	"io"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/sessions"
)

// lostAnswer is a deserialize-step middleware that, once armed, lets the next UpdateItem reach
// DynamoDB, drops its answer, runs between() and fails the attempt as a timeout would, so the
// SDK sends the same request again.
type lostAnswer struct {
	armed   atomic.Bool
	between func()
}

func (*lostAnswer) ID() string { return "LostAnswer" }

func (l *lostAnswer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	if middleware.GetOperationName(ctx) != "UpdateItem" || !l.armed.CompareAndSwap(true, false) {
		return next.HandleDeserialize(ctx, in)
	}
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	l.between()
	return out, md, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "lost", Err: lostTimeout{}}}
}

type lostTimeout struct{}

func (lostTimeout) Error() string   { return "timeout awaiting response headers (test)" }
func (lostTimeout) Timeout() bool   { return true }
func (lostTimeout) Temporary() bool { return true }

// An active keepalive applied, whose answer is lost, and an idle keepalive that disconnects the
// session before the SDK resends the first: the resent write must not apply again (it would
// reconnect the session, a state no order of the two keepalives gives). Found by
// TestLinearizableSessionsUnderFaults.
func TestKeepaliveResentAfterLostAnswerAppliesOnce(t *testing.T) {
	env := newSessionEnv(t, "u1")
	lt := testLifetime()
	env.start(t, "s_resent", "u1", true, lt, st0)
	now := st0.Add(20 * time.Second)

	hook := &lostAnswer{}
	client := dynamodb.New(env.tb.Client.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Deserialize.Add(hook, middleware.After)
		})
	})
	lossy := ddbstore.Open(client, env.tb.Name).Sessions()
	var idleErr error
	hook.between = func() {
		_, idleErr = sessions.RunKeepalive(context.Background(), env.ss, "s_resent", "", now, lt.IdleDisconnect)
	}
	hook.armed.Store(true)

	r, err := sessions.RunKeepalive(context.Background(), lossy, "s_resent", "u1", now, 0)
	if err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	if hook.armed.Load() {
		t.Fatal("the keepalive's UpdateItem never reached the middleware")
	}
	if idleErr != nil {
		t.Fatalf("idle keepalive in between: %v", idleErr)
	}
	if want := now.Add(lt.KeepaliveExpiration); !r.ExpiresAt.Equal(want) {
		t.Errorf("keepalive answered expiry %v, want %v", r.ExpiresAt, want)
	}
	got := env.get(t, "s_resent")
	if got.Connected {
		t.Errorf("session connected after keepalive then idle disconnect: the resent keepalive was applied twice")
	}
	if !got.ExpiresAt.Equal(now.Add(lt.KeepaliveExpiration)) {
		t.Errorf("expiry %v, want %v", got.ExpiresAt, now.Add(lt.KeepaliveExpiration))
	}
}
