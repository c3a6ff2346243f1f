package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"

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

func channelCmd(ctx context.Context, cfg *config, args []string, name string, stdout io.Writer) error {
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
		if name == "" {
			name = slug
		}
		ch, secrets, err := store.CreateChannel(ctx, slug, name)
		if err != nil {
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
