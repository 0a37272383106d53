package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
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

// string adds a string flag. Usage shows its default, which comes from the
// environment when the variable is set, with a URL's password and query
// values hidden (webhook.DisplayURL): a -database-url, -smtp-url or
// -operator-webhook-url from the environment may carry credentials, and
// usage is printed to stderr on every flag error. A flag whose variable
// names a secret (isSecretEnv) is added as fs.secret.
func (fs *flagSet) string(name, envName, def, help string) *string {
	if isSecretEnv(envName) && def == "" {
		return fs.secret(name, envName, help)
	}
	if v, ok := fs.envValue(envName); ok {
		def = v
	}
	p := fs.String(name, def, helpWithEnv(help, envName))
	fs.Lookup(name).DefValue = displayDefault(def)
	return p
}

// secret adds a string flag whose value is never shown: usage says only
// whether the environment variable is set.
func (fs *flagSet) secret(name, envName, help string) *string {
	v, ok := fs.envValue(envName)
	help = helpWithEnv(help, envName)
	if ok {
		help += " (set in " + envName + "; not shown)"
	}
	p := fs.String(name, v, help)
	fs.Lookup(name).DefValue = "" // PrintDefaults prints no default then
	return p
}

// isSecretEnv reports whether the variable envName holds a secret (a key,
// password or token) by its name, so commands that add such a flag with
// fs.string do not print it either.
func isSecretEnv(envName string) bool {
	for _, word := range []string{"SECRET", "PASSWORD", "TOKEN", "_KEY"} {
		if strings.Contains(envName, word) {
			return true
		}
	}
	return false
}

// displayDefault returns v as usage may show it: a URL without its
// password and query values; one that does not parse is not shown.
func displayDefault(v string) string {
	if !strings.Contains(v, "://") {
		return v
	}
	if _, err := url.Parse(v); err != nil {
		return "(unparsable URL, not shown)"
	}
	return webhook.DisplayURL(v)
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
