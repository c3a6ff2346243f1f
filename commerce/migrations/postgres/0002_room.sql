-- The live room: products, broadcasts, viewers, chat, coupons, orders, and
-- the replies of commands already done (so that a retried command is not
-- done twice). Money is integer won. Times are UTC. The SQLite
-- migration of the same version has the same tables and constraints.

-- A stall's products. Stock never goes below zero: orders reserve it with
-- a conditional UPDATE, and the CHECK catches any mistake. Deleting a
-- product only hides it (deleted_at), since orders refer to it.
CREATE TABLE products (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id  BIGINT      NOT NULL REFERENCES channels (id),
    name        TEXT        NOT NULL,
    price_won   BIGINT      NOT NULL CHECK (price_won >= 0),
    stock       INTEGER     NOT NULL CHECK (stock >= 0),
    description TEXT        NOT NULL DEFAULT '',
    photo_key   TEXT        NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);
CREATE INDEX products_channel ON products (channel_id, id);

-- One row per time a channel went live (or rehearsed: practice). At most
-- one broadcast per channel is live (ended_at IS NULL) at a time.
CREATE TABLE broadcasts (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id        BIGINT      NOT NULL REFERENCES channels (id),
    title             TEXT        NOT NULL DEFAULT '',
    practice          BOOLEAN     NOT NULL DEFAULT FALSE,
    started_at        TIMESTAMPTZ NOT NULL,
    ended_at          TIMESTAMPTZ ,
    pinned_product_id BIGINT      REFERENCES products (id),
    notice            TEXT        NOT NULL DEFAULT '',
    likes             BIGINT      NOT NULL DEFAULT 0 CHECK (likes >= 0)
);
CREATE INDEX broadcasts_channel ON broadcasts (channel_id, id);
CREATE UNIQUE INDEX broadcasts_one_live ON broadcasts (channel_id) WHERE ended_at IS NULL;

-- Every pin and unpin (product_id NULL): the replay's product chapters.
CREATE TABLE broadcast_pins (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broadcast_id BIGINT      NOT NULL REFERENCES broadcasts (id),
    product_id   BIGINT      REFERENCES products (id),
    pinned_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX broadcast_pins_broadcast ON broadcast_pins (broadcast_id, id);

-- Anonymous customers of one channel. The browser keeps a random token and
-- resumes its identity with it; only its SHA-256 hash is stored.
CREATE TABLE viewers (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id  BIGINT      NOT NULL REFERENCES channels (id),
    nickname    TEXT        NOT NULL DEFAULT '',
    token_hash  BYTEA       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    muted_until TIMESTAMPTZ ,
    banned      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX viewers_channel ON viewers (channel_id, id);

-- Chat, with the nickname as it was when the message was sent.
CREATE TABLE chat_messages (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broadcast_id BIGINT      NOT NULL REFERENCES broadcasts (id),
    viewer_id    BIGINT      NOT NULL REFERENCES viewers (id),
    nickname     TEXT        NOT NULL,
    text         TEXT        NOT NULL,
    hidden       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX chat_messages_broadcast ON chat_messages (broadcast_id, id);

-- A coupon drop: the first `quantity` viewers to claim it get
-- discount_won off one order. remaining counts down with each claim.
CREATE TABLE coupons (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broadcast_id BIGINT      NOT NULL REFERENCES broadcasts (id),
    title        TEXT        NOT NULL,
    discount_won BIGINT      NOT NULL CHECK (discount_won > 0),
    quantity     INTEGER     NOT NULL CHECK (quantity > 0),
    remaining    INTEGER     NOT NULL CHECK (remaining >= 0 AND remaining <= quantity),
    expires_at   TIMESTAMPTZ NOT NULL,
    closed       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX coupons_broadcast ON coupons (broadcast_id, id);

-- One claim per viewer per coupon. used_by_order is the order the claim
-- pays for, cleared again if that order is cancelled or rejected.
CREATE TABLE coupon_claims (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coupon_id     BIGINT      NOT NULL REFERENCES coupons (id),
    viewer_id     BIGINT      NOT NULL REFERENCES viewers (id),
    claimed_at    TIMESTAMPTZ NOT NULL,
    used_by_order BIGINT      UNIQUE,
    UNIQUE (coupon_id, viewer_id)
);
CREATE INDEX coupon_claims_viewer ON coupon_claims (viewer_id);

-- An order for pickup at the stall. Totals are computed by the server from
-- the items' prices at the time of the order.
CREATE TABLE orders (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id      BIGINT      NOT NULL REFERENCES channels (id),
    broadcast_id    BIGINT      REFERENCES broadcasts (id),
    viewer_id       BIGINT      NOT NULL REFERENCES viewers (id),
    buyer_name      TEXT        NOT NULL,
    buyer_phone     TEXT        NOT NULL,
    note            TEXT        NOT NULL DEFAULT '',
    subtotal_won    BIGINT      NOT NULL CHECK (subtotal_won >= 0),
    discount_won    BIGINT      NOT NULL CHECK (discount_won >= 0 AND discount_won <= subtotal_won),
    total_won       BIGINT      NOT NULL CHECK (total_won = subtotal_won - discount_won),
    coupon_claim_id BIGINT      REFERENCES coupon_claims (id),
    status          TEXT        NOT NULL CHECK (status IN ('placed', 'accepted', 'ready', 'picked_up', 'rejected', 'cancelled')),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_channel ON orders (channel_id, id);
CREATE INDEX orders_viewer ON orders (viewer_id, id);
CREATE INDEX orders_broadcast ON orders (broadcast_id, id);
ALTER TABLE coupon_claims ADD CONSTRAINT coupon_claims_used_by_order_fkey
    FOREIGN KEY (used_by_order) REFERENCES orders (id);

-- The lines of an order, with the name and unit price as sold.
CREATE TABLE order_items (
    order_id       BIGINT  NOT NULL REFERENCES orders (id),
    line           INTEGER NOT NULL CHECK (line > 0),
    product_id     BIGINT  NOT NULL REFERENCES products (id),
    name           TEXT    NOT NULL,
    unit_price_won BIGINT  NOT NULL CHECK (unit_price_won >= 0),
    qty            INTEGER NOT NULL CHECK (qty > 0),
    PRIMARY KEY (order_id, line)
);

-- Every change of an order's status; from_status is '' for the placing.
CREATE TABLE order_status_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    BIGINT      NOT NULL REFERENCES orders (id),
    from_status TEXT        NOT NULL,
    to_status   TEXT        NOT NULL,
    actor       TEXT        NOT NULL CHECK (actor IN ('buyer', 'merchant')),
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_status_history_order ON order_status_history (order_id, id);

-- Commands already done, by who sent them (actor: 'v<viewer id>' or
-- 'm<channel id>') and the id they gave it, with the reply (JSON). A
-- command's row is written in the same transaction as its effect, so a
-- retried command finds either both or neither.
CREATE TABLE commands (
    actor      TEXT        NOT NULL,
    cmd_id     TEXT        NOT NULL CHECK (length(cmd_id) BETWEEN 1 AND 64),
    kind       TEXT        NOT NULL,
    reply      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (actor, cmd_id)
);
CREATE INDEX commands_created ON commands (created_at);
