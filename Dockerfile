# Weir worker image: a static weir binary on distroless, as a non-root user.
#   docker build -t weir .
#   docker run --rm weir run -h
# docker-compose.yml builds it for its workers and producer; deploy/k8s runs it.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: this layer stays cached while only the code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary for an image with no libc (Pebble builds
# without cgo too, with Go's zstd and the Go heap for its block cache).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/weir ./cmd/weir
# The state directory, owned by the runtime user: a named volume mounted
# there starts as a copy of it, so the worker can write to it.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/weir /usr/local/bin/weir
COPY --from=build --chown=65532:65532 /out/state /var/lib/weir
# nonroot is uid 65532 in distroless.
USER 65532:65532
WORKDIR /var/lib/weir
ENV WEIR_STATE_DIR=/var/lib/weir
VOLUME ["/var/lib/weir"]
# The worker API (weir run -http :8080): profiles, triggers, /healthz,
# /readyz, /metrics.
EXPOSE 8080
ENTRYPOINT ["weir"]
CMD ["help"]
