package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/web"
)

// pageChannel lets the pages (QR code, poster) read a channel from the store without web
// depending on commerce.
func pageChannel(store *commerce.Store) func(ctx context.Context, slug string) (web.Channel, error) {
	return func(ctx context.Context, slug string) (web.Channel, error) {
		ch, err := store.Channel(ctx, slug)
		if errors.Is(err, commerce.ErrNotFound) {
			return web.Channel{}, fmt.Errorf("%w: %w", web.ErrNotFound, err)
		}
		if err != nil {
			return web.Channel{}, err
		}
		return web.Channel{Slug: ch.Slug, Name: ch.Name, Market: ch.Market, Location: ch.Location}, nil
	}
}
