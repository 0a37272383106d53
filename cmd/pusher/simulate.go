package main

import (
	"context"
	"io"
)

func runSimulate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	return errUsage
}
