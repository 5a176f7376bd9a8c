package settings

//go:generate go run ./internal/genaccessors -o accessors_gen.go
