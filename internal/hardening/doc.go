// Package hardening holds the service's integration tests for faults, races and
// linearizability: the HTTP API, the session service, the sweeps and the stream publisher run
// together on DynamoDB Local, with the SDK clients wrapped in internal/faultinject, and their
// histories are checked against a sequential model of the session state machine with
// porcupine. docs/reliability.md lists what is tested where and how to run the longer
// versions. The package has no code of its own besides this file.
package hardening
