package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// flagSet is a flag.FlagSet whose flags may also be set by environment
// variables: a flag given on the command line wins over its variable, which
// wins over the default. Usage lists each flag with its variable and default.
type flagSet struct {
	*flag.FlagSet
	getenv env
	errs   []error
}

func newFlagSet(name, summary string, getenv env, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: pusher %s [flags]\n\n%s\n\nFlags (environment variable, default):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func (fs *flagSet) envValue(envName string) (string, bool) {
	if envName == "" {
		return "", false
	}
	v := fs.getenv(envName)
	return v, v != ""
}

func helpWithEnv(help, envName string) string {
	if envName == "" {
		return help
	}
	return help + " (env " + envName + ")"
}

func (fs *flagSet) string(name, envName, def, help string) *string {
	if v, ok := fs.envValue(envName); ok {
		def = v
	}
	return fs.String(name, def, helpWithEnv(help, envName))
}

func (fs *flagSet) int(name, envName string, def int, help string) *int {
	if v, ok := fs.envValue(envName); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			fs.errs = append(fs.errs, fmt.Errorf("%s=%q: not an integer", envName, v))
		} else {
			def = n
		}
	}
	return fs.Int(name, def, helpWithEnv(help, envName))
}

func (fs *flagSet) duration(name, envName string, def time.Duration, help string) *time.Duration {
	if v, ok := fs.envValue(envName); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			fs.errs = append(fs.errs, fmt.Errorf("%s=%q: not a duration like 10s", envName, v))
		} else {
			def = d
		}
	}
	return fs.Duration(name, def, helpWithEnv(help, envName))
}

func (fs *flagSet) bool(name, envName string, def bool, help string) *bool {
	if v, ok := fs.envValue(envName); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fs.errs = append(fs.errs, fmt.Errorf("%s=%q: not a boolean", envName, v))
		} else {
			def = b
		}
	}
	return fs.Bool(name, def, helpWithEnv(help, envName))
}

// parse parses args; it reports bad environment values first.
func (fs *flagSet) parse(args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.errs) > 0 {
		return fs.errs[0]
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	return nil
}
