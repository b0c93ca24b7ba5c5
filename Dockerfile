# syntax=docker/dockerfile:1
#
# The strata image: one static binary (CGO_ENABLED=0, as `make build`) on
# distroless/static, which has CA certificates (for S3 over TLS), tzdata and
# a non-root user (65532), and nothing else: no shell, no package manager.
#
#   docker build -t strata:dev --build-arg VERSION=$(git describe --always --dirty) .
#   docker run --rm -p 9092:9092 -p 9644:9644 -e STRATA_ADVERTISED_ADDR=localhost:9092 strata:dev
#
# deploy/deploy_test.go checks this file against strata serve and the
# Kubernetes manifests (flags, ports, user, data directory).

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/strata ./cmd/strata
# The data directory, owned by the image's user: the final image has no
# shell to create it.
RUN install -d -o 65532 -g 65532 -m 0750 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/strata /usr/local/bin/strata
COPY --from=build --chown=65532:65532 /out/data /var/lib/strata
# Listen on every interface of the container. --listen without a specific
# host needs --advertised-addr (STRATA_ADVERTISED_ADDR): the address clients
# reach this broker at, which only the deployment knows.
ENV STRATA_DATA_DIR=/var/lib/strata \
    STRATA_LISTEN=0.0.0.0:9092 \
    STRATA_HTTP_LISTEN=0.0.0.0:9644 \
    STRATA_LOG_FORMAT=json
EXPOSE 9092 9644
VOLUME ["/var/lib/strata"]
USER 65532:65532
# SIGTERM seals and uploads the WAL and hands the partitions over; give the
# container time for it (docker stop -t 60, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["serve"]
