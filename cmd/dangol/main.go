// Command dangol runs the Dangol live-commerce server, and administers it:
//
//	dangol [flags]                              run the server
//	dangol [flags] channel add <slug> --name N  create a channel, print its key, links and PIN
//	dangol [flags] channel reset-key <slug>     issue a new stream key
//	dangol [flags] channel pin <slug>           issue a new PIN for the studio login
//	dangol [flags] tutor add <name>             create a tutor, print the tutor login link
//	dangol [flags] tutor list                   list the tutors and their channels
//	dangol [flags] tutor link|unlink <tutor> <slug>  assign a channel to a tutor, or take it away
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dangol:", err)
		}
		os.Exit(2)
	}
}

// run is main without the process: tests call it with their own arguments and environment.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dangol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, finish := configFlags(fs, getenv)
	// One flag set for everything, so flags may stand anywhere: `channel add x --name N --data D`.
	name := fs.String("name", "", "display name of the stall, for channel add (e.g. \"순이네 반찬\")")
	var adm adminFlags
	fs.StringVar(&adm.tutor, "tutor", "", "for channel add: assign the new channel to this tutor (id or handle)")
	fs.StringVar(&adm.handle, "handle", "", "for tutor add: the tutor's handle (a-z, 0-9, '-'; derived from a Latin-letter name if not given)")
	fs.StringVar(&adm.phone, "phone", "", "for tutor add: the tutor's phone number")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: dangol [flags]                             run the server\n"+
			"       dangol [flags] channel add <slug> --name N create a channel\n"+
			"       dangol [flags] channel reset-key <slug>    issue a new stream key\n"+
			"       dangol [flags] channel pin <slug>          issue a new PIN for the studio login\n"+
			"       dangol [flags] tutor add <name>            create a tutor and print the tutor login link\n"+
			"       dangol [flags] tutor list                  list the tutors and their channels\n"+
			"       dangol [flags] tutor link <tutor> <slug>   assign a channel to a tutor (unlink: take it away)\n\nflags:\n")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := finish(); err != nil {
		return err
	}
	if len(rest) == 0 {
		return serve(ctx, cfg, stdout)
	}
	switch rest[0] {
	case "channel":
		adm.name = *name
		return channelCmd(ctx, cfg, rest[1:], adm, stdout)
	case "tutor":
		return tutorCmd(ctx, cfg, rest[1:], adm, stdout)
	case "serve":
		return serve(ctx, cfg, stdout)
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", rest[0])
}

// parseInterspersed parses flags wherever they stand among the positional arguments, so that
// `channel add slug --name X` reads as people type it.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
