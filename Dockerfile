# The gateway as a small static image, and the example services beside it.
#
#   docker build -t sluice .                              # the gateway (the last stage)
#   docker build --target examples -t sluice-examples .   # greeter, orders, inventory, pricing
#   docker run -p 8080:8080 -p 9901:9901 sluice           # the embedded default, on every interface
#   docker run -p 8080:8080 -v $PWD/gateway.yaml:/etc/sluice/gateway.yaml:ro sluice -config /etc/sluice/gateway.yaml
#
# Base images are pinned by tag and digest; docs/operations.md says how to
# refresh the digests. These two were not looked up in the registries (none
# was reachable where this file was written) but taken from public
# Dockerfiles pinning the same tags: refresh them before relying on them.
# deploy/dockerfile_test.go checks the rules this file keeps and builds the
# gateway with the same command.

FROM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gateway ./cmd/gateway
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/examples/ ./examples/greeter ./examples/orders ./examples/inventory ./examples/pricing

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639 AS examples
COPY --from=build /out/examples/ /examples/
USER 65532:65532
ENTRYPOINT ["/examples/greeter"]

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639 AS gateway
COPY --from=build /out/gateway /gateway
# The embedded default listens on loopback, which nothing outside the
# container reaches: here its listeners take every interface. A file given
# with -config says where it listens itself (these variables do not move
# it); healthcheck asks the port of SLUICE_LISTEN.
ENV SLUICE_LISTEN=0.0.0.0:8080 SLUICE_ADMIN_LISTEN=0.0.0.0:9901
USER 65532:65532
EXPOSE 8080 9901
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/gateway", "healthcheck"]
ENTRYPOINT ["/gateway"]
