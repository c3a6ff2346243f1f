// Package practice holds what tutors' practice sessions need. Its first
// part is a simulated crowd: Start a Crowd against a live room and its
// viewers join as real websocket clients (docs/protocol.md), greet, chat
// in Korean, like, claim dropped coupons and order the pinned product, at
// a calm, busy or rush pace, so that a merchant rehearses with a room that
// behaves like a real one.
//
// # Scripts and paces
//
// What the viewers say and how busy they are is data: JSON files, the
// built-in ones embedded from practice/scripts. A tutor adds more by
// loading another folder into a Library (Library.Load(os.DirFS(dir),
// dir)); a name already taken is an error, not an override. Every file
// has a "type".
//
// A script ("type": "script") has a "name", a "title", "nicknames" (at
// most 20 characters each, no duplicates), "buyers" ({"names", "phones",
// "notes"}: phone patterns use '#' for a random digit, e.g.
// "010-0000-####", so that orders carry test numbers; a "" note orders
// without a note) and "lines" by kind: greeting (said once after joining),
// idle (small talk), price, freshness, origin, pickup and quantity
// (questions while a product is pinned), pinned (a reaction to a pin),
// claimed (after getting a coupon) and thanks (after an order). Lines may
// use {product} and {price} (the pinned product's name and price,
// "5,000원"), and thanks lines {qty}; a line that needs a product is not
// said while nothing is pinned. greeting, pinned and thanks are required,
// with at least one greeting that needs no product.
//
// A paces file ("type": "paces") has "paces", each with a "name", a
// "title", "viewers", "join_spread_s", per-viewer "chats_per_min" (at most
// 30: the room allows 5 messages per 10 s) and "likes_per_min", and the
// reactions "claim", "order", "react" and "thanks", each
// {"chance": 0..1, "delay_s": [min, max]}; "use_coupon" (the chance an
// order uses a claimed coupon) and "quantities" ([{"qty", "weight"}]).
//
// Loading checks every field and names the file and the field in its
// error (a FileError wrapping ErrInvalidScript); unknown fields are
// errors, so that a typo does not silently empty a pool.
//
// # Behaviour
//
// Each viewer keeps to the room's limits in real time whatever the speed
// (5 chats in any 10 s, 10 likes a second), does nothing while the room is
// not live, and draws every choice from its own PCG stream seeded by
// Config.Seed, so the same seed gives the same nicknames and choices.
package practice
