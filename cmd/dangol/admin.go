package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/dangol/dangol/commerce"
)

// openStore opens PostgreSQL when a database URL is configured, else the SQLite file in the
// data folder.
func openStore(ctx context.Context, cfg *config) (*commerce.Store, error) {
	if cfg.DatabaseURL != "" {
		return commerce.OpenPostgres(ctx, cfg.DatabaseURL)
	}
	return commerce.OpenSQLite(ctx, filepath.Join(cfg.Data, "dangol.db"))
}

// adminFlags are the flags of the channel and tutor commands.
type adminFlags struct {
	name   string // channel add: the stall's name
	tutor  string // channel add: the tutor to assign the channel to, id or handle
	handle string // tutor add
	phone  string // tutor add
}

func channelCmd(ctx context.Context, cfg *config, args []string, flags adminFlags, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("channel: want `channel add <slug>`, `channel reset-key <slug>` or `channel pin <slug>`")
	}
	slug := args[1]
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	switch args[0] {
	case "add":
		name := flags.name
		if name == "" {
			name = slug
		}
		var (
			ch      commerce.Channel
			secrets commerce.Secrets
		)
		if flags.tutor != "" {
			t, err := store.Tutor(ctx, flags.tutor)
			if err != nil {
				return err
			}
			ch, secrets, err = store.CreateTutorChannel(ctx, t.ID, slug, name)
			if err != nil {
				return err
			}
		} else if ch, secrets, err = store.CreateChannel(ctx, slug, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stream key: %s\n", secrets.StreamKey)
		fmt.Fprintf(stdout, "channel: %s/c/%s\n", cfg.PublicURL, ch.Slug)
		fmt.Fprintf(stdout, "studio: %s\n", studioLink(cfg.PublicURL, ch.Slug, secrets.StudioToken))
		fmt.Fprintf(stdout, "PIN: %s\n", secrets.PIN)
		return nil
	case "reset-key":
		key, err := store.ResetStreamKey(ctx, slug)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stream key: %s\n", key)
		return nil
	case "pin":
		// For the tutor when a merchant forgot the PIN; open studio sessions stay open.
		pin, err := store.ResetPIN(ctx, slug)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "PIN: %s\n", pin)
		return nil
	}
	return fmt.Errorf("channel: unknown command %q", args[0])
}

// studioLink logs a phone into the studio in one tap. The token rides in the fragment, which
// browsers never send to the server, so it stays out of access logs and Referer headers.
func studioLink(base, slug, token string) string {
	return base + "/studio?c=" + url.QueryEscape(slug) + "#t=" + url.QueryEscape(token)
}

const tutorUsage = "tutor: want `tutor add <name> [--handle H] [--phone P]`, `tutor list`, `tutor link <tutor> <slug>` or `tutor unlink <tutor> <slug>`"

func tutorCmd(ctx context.Context, cfg *config, args []string, flags adminFlags, stdout io.Writer) error {
	want := map[string]int{"add": 2, "list": 1, "link": 3, "unlink": 3}
	if len(args) == 0 {
		return fmt.Errorf("%s", tutorUsage)
	}
	n, ok := want[args[0]]
	if !ok {
		return fmt.Errorf("tutor: unknown command %q", args[0])
	}
	if len(args) != n {
		return fmt.Errorf("%s", tutorUsage)
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	switch args[0] {
	case "add":
		t, token, err := store.CreateTutor(ctx, commerce.TutorInput{Handle: flags.handle, Name: args[1], Phone: flags.phone})
		if errors.Is(err, commerce.ErrExists) && flags.handle == "" {
			return fmt.Errorf("%w; choose another with --handle", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tutor: %s (id %d)\n", t.Handle, t.ID)
		fmt.Fprintf(stdout, "login: %s\n", tutorLink(cfg.PublicURL, token))
		return nil
	case "list":
		ts, err := store.Tutors(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHANDLE\tNAME\tPHONE\tCHANNELS")
		for _, t := range ts {
			chs, err := store.TutorChannels(ctx, t.ID)
			if err != nil {
				return err
			}
			slugs := make([]string, len(chs))
			for i, c := range chs {
				slugs[i] = c.Slug
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Handle, t.Name, t.Phone, strings.Join(slugs, ","))
		}
		return tw.Flush()
	}
	// link, unlink
	t, err := store.Tutor(ctx, args[1])
	if err != nil {
		return err
	}
	if args[0] == "link" {
		if err := store.AssignChannel(ctx, t.ID, args[2]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s now looks after %s\n", t.Handle, args[2])
		return nil
	}
	if err := store.UnassignChannel(ctx, t.ID, args[2]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s no longer looks after %s\n", t.Handle, args[2])
	return nil
}

// tutorLink logs a tutor in in one tap; the token rides in the fragment, as in studioLink.
func tutorLink(base, token string) string {
	return base + "/tutor#t=" + url.QueryEscape(token)
}
