// Command dcrnn trains, evaluates and serves multi-task ranking models.
// See the README for the command list; every command has --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of dcrnn.
type command struct {
	name    string // may hold a space for nested commands, e.g. "data inspect"
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; each command file calls it from init.
func register(c command) { commands[c.name] = c }

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dcrnn:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
}

// run dispatches args to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	name := args[0]
	if c, ok := commands[name]; ok {
		return c.run(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 1 {
		if c, ok := commands[name+" "+args[1]]; ok {
			return c.run(ctx, args[2:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "dcrnn: multi-task ranking models (CTR, CVR, CTCVR) — train, evaluate, serve.")
	fmt.Fprintln(w, "\nUsage: dcrnn COMMAND [flags]   (dcrnn COMMAND --help for its flags)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
}

// newFlags returns a FlagSet for a subcommand that writes its help to stderr
// and returns errors instead of exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dcrnn "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dcrnn %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
