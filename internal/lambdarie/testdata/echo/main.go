// Command echo is a test function: it answers with the event it gets and the value of the
// environment variable the event's "env" names, and fails when the event has "fail": true.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Env  string `json:"env"`
	Fail bool   `json:"fail"`
}

type answer struct {
	Event event  `json:"event"`
	Value string `json:"value"`
}

func main() {
	lambda.Start(func(_ context.Context, e event) (answer, error) {
		if e.Fail {
			return answer{}, errors.New("asked to fail")
		}
		return answer{Event: e, Value: os.Getenv(e.Env)}, nil
	})
}
