# syntax=docker/dockerfile:1

# Dangol server image. Build: docker build -t dangol .
# Run:   docker run -p 8080:8080 -p 8189:8189/udp -p 8189:8189 -v dangol-data:/data dangol

# Build on the builder's own platform and cross-compile (pure Go, no cgo),
# so multi-arch images build fast.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src

# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download && go mod verify

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /dangol ./cmd/dangol

# The data folder must belong to the runtime user: a volume mounted on a
# folder that does not exist in the image would be owned by root.
RUN mkdir /data

# Runtime: no shell, no package manager; CA certificates (S3) and time zones
# included. nonroot is uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /dangol /dangol
COPY --from=build --chown=65532:65532 /data /data
USER nonroot:nonroot
ENV DANGOL_DATA=/data
VOLUME ["/data"]
# 8080/tcp: HTTP (pages, WHIP/WHEP, websocket). 8189: WebRTC media
# (ICE UDP mux, and ICE-TCP fallback).
EXPOSE 8080/tcp 8189/udp 8189/tcp
ENTRYPOINT ["/dangol"]
