# The image of hpa-autoscaler for people who build with Docker:
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/hpa-autoscaler/hpa-autoscaler:dev .
#
# `make image` builds the same image without Docker (hack/image, with
# go-containerregistry, on an empty base holding what distroless's static
# nonroot image holds for this binary: /etc/passwd and /etc/group naming
# user 65532, the CA bundle). The user, entrypoint and label keys below are
# held to hack/image's by its test (TestDockerfileDescribesTheImage).

FROM golang:1.26 AS build
ARG VERSION=dev
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/hpa-autoscaler ./cmd/hpa-autoscaler

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/hpa-autoscaler/hpa-autoscaler" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.title="hpa-autoscaler"
COPY --from=build /out/hpa-autoscaler /hpa-autoscaler
USER 65532:65532
ENTRYPOINT ["/hpa-autoscaler"]
