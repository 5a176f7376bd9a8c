// Package launch turns a user's effective settings into what the other parties apply: the
// client settings a session's client enforces, the launch configuration the provisioning layer
// starts a session with (run_config, mounts, environment, web filter, SSH keys), and the rules
// for a user's own storage mappings. It is pure Go: no I/O, no AWS.
package launch
