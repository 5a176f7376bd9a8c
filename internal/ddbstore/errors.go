package ddbstore

import (
	"strconv"

	"wspolicy/internal/policy"
)

// retryLater is the error of an operation that gave up after racing concurrent writers.
func retryLater(what string) *policy.Error {
	return policy.Errorf(policy.KindUnavailable, policy.CodeRetryLater, "%s kept changing concurrently, retry later", what)
}

func errGroupNotFound(id string) *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeGroupNotFound, "group %s not found", id)
}

func errUserNotFound(id string) *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeUserNotFound, "user %s not found", id)
}

func errKeyNotFound() *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeKeyNotFound, "API key not found")
}

func errVersionMismatch(id string, want, have int64) *policy.Error {
	return policy.Errorf(policy.KindPrecondition, policy.CodeVersionMismatch,
		"group %s is at version %d, not %d", id, have, want)
}

func errGroupNameTaken(name string) *policy.Error {
	return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeGroupNameTaken, Field: "name",
		Message: "a group named " + strconv.Quote(name) + " already exists"}
}

func errUsernameTaken(name string) *policy.Error {
	return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeUsernameTaken, Field: "username",
		Message: "a user named " + strconv.Quote(name) + " already exists"}
}
