# The gateway as a small static image. Build: docker build -t sluice .
# Run:   docker run -p 8080:8080 -v $PWD/gateway.yaml:/etc/sluice/gateway.yaml sluice -config /etc/sluice/gateway.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/gateway ./cmd/gateway

FROM scratch
COPY --from=build /out/gateway /gateway
# The system's authorities, for the ACME server (tls.acme) and TLS backends.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080 9901
ENTRYPOINT ["/gateway"]
