// Command image builds the container image of hpa-autoscaler without
// Docker (`make image`): the static binary (CGO off, -trimpath, the version
// in its ldflags) on an empty base, with an /etc/passwd and /etc/group that
// name the non-root user 65532 and the host's CA bundle, run as 65532 with
// /hpa-autoscaler as the entrypoint and the OCI labels source, version and
// revision. It writes a tarball in the docker-archive format
// (go-containerregistry's tarball.Write: manifest.json, the config and the
// layer), which `docker load`, `kind load image-archive`, `podman load` and
// `crane push` read:
//
//	go run ./hack/image -version v0.1.0 -out bin/hpa-autoscaler-image.tar
//
// The Dockerfile at the repository's root describes the same image for
// people who build with Docker; hack/image's test holds the two together.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Defaults of the image; the Makefile's IMAGE and the chart's
// image.repository name the same repository (tests check both).
const (
	defaultRepository = "ghcr.io/hpa-autoscaler/hpa-autoscaler"
	defaultSource     = "https://github.com/hpa-autoscaler/hpa-autoscaler"
	// user is distroless's nonroot user and group.
	user       = "65532:65532"
	entrypoint = "/hpa-autoscaler"
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
)

// Label keys of the OCI image spec's annotations, set as config labels.
const (
	labelSource   = "org.opencontainers.image.source"
	labelVersion  = "org.opencontainers.image.version"
	labelRevision = "org.opencontainers.image.revision"
	labelTitle    = "org.opencontainers.image.title"
)

// options is what one build needs; validate names every bad field.
type options struct {
	Repo       string // the repository's root (the module)
	Version    string // main.version and the version label
	Revision   string // the revision label (a commit hash)
	Source     string // the source label
	Image      string // the reference written into the tarball
	Arch       string // GOARCH of the binary and the image
	Out        string // the tarball's path
	CACerts    string // CA bundle copied into the image ("" : none)
	Go         string // the go command
	SourceDate time.Time
}

func (o options) validate() error {
	var errs []error
	if o.Version == "" {
		errs = append(errs, errors.New("-version: required"))
	} else if strings.ContainsAny(o.Version, " \t\n'\"") {
		errs = append(errs, fmt.Errorf("-version %q: no spaces or quotes", o.Version))
	}
	if o.Out == "" {
		errs = append(errs, errors.New("-out: required"))
	}
	if o.Arch == "" {
		errs = append(errs, errors.New("-arch: required"))
	}
	if _, err := name.ParseReference(o.Image); err != nil {
		errs = append(errs, fmt.Errorf("-image %q: %v", o.Image, err))
	}
	return errors.Join(errs...)
}

func main() {
	o := options{Go: "go"}
	flag.StringVar(&o.Repo, "repo", ".", "root of the repository (the Go module)")
	flag.StringVar(&o.Version, "version", "", "version set in the binary (-X main.version) and the version label (required)")
	flag.StringVar(&o.Revision, "revision", "", "revision label (default: git rev-parse HEAD of -repo, \"unknown\" without git)")
	flag.StringVar(&o.Source, "source", defaultSource, "source label")
	repo := flag.String("repository", defaultRepository, "image repository; the tag is -version")
	flag.StringVar(&o.Image, "image", "", "full image reference written in the tarball (default: -repository:-version)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the binary and the image")
	flag.StringVar(&o.Out, "out", "bin/hpa-autoscaler-image.tar", "the tarball to write")
	flag.StringVar(&o.CACerts, "ca-certs", caBundle, "CA bundle copied to "+caBundle+" in the image (\"\": none)")
	flag.Parse()
	date, err := sourceDate(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(2)
	}
	o.SourceDate = date
	if o.Image == "" {
		o.Image = *repo + ":" + o.Version
	}
	if o.Revision == "" {
		o.Revision = gitRevision(o.Repo)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", o.Out, "as", o.Image)
}

// sourceDate is the time of every file and of the image's creation:
// SOURCE_DATE_EPOCH (reproducible-builds.org) when set, else the epoch, so
// that two builds of one commit are the same image.
func sourceDate(env string) (time.Time, error) {
	if env == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(env, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: expected seconds since 1970", env)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// gitRevision is HEAD's commit hash of dir, or "unknown".
func gitRevision(dir string) string {
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// run builds the binary and the image and writes the tarball.
func run(ctx context.Context, o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hpa-autoscaler-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "hpa-autoscaler")
	if err := buildBinary(ctx, o, bin); err != nil {
		return err
	}
	img, err := buildImage(o, bin)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(o.Image)
	if err != nil {
		return fmt.Errorf("-image %q: %w", o.Image, err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	// Written beside the target and renamed, so a failed build leaves no
	// half tarball under the name a loader reads.
	part := o.Out + ".part"
	if err := tarball.WriteToFile(part, ref, img); err != nil {
		os.Remove(part)
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	return os.Rename(part, o.Out)
}

// buildBinary compiles cmd/hpa-autoscaler the way the Makefile's build
// target does (-X main.version), but static and reproducible: CGO off,
// -trimpath, no symbol table, no VCS stamp.
func buildBinary(ctx context.Context, o options, out string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+o.Version,
		"-o", out, "./cmd/hpa-autoscaler")
	cmd.Dir = o.Repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/hpa-autoscaler: %w\n%s", err, stderr.String())
	}
	return nil
}

// buildImage puts the binary at /hpa-autoscaler in one layer on an empty
// base and sets the config.
func buildImage(o options, bin string) (v1.Image, error) {
	layerTar, err := rootfs(o, bin)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{CreatedBy: "hack/image: /hpa-autoscaler, /etc/passwd, /etc/group, CA certificates", Created: v1.Time{Time: o.SourceDate}},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.Arch
	cf.Created = v1.Time{Time: o.SourceDate}
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: []string{entrypoint},
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=" + caBundle},
		Labels:     labels(o),
	}
	return mutate.ConfigFile(img, cf)
}

// labels are the image's OCI labels; the Dockerfile sets the same keys.
func labels(o options) map[string]string {
	return map[string]string{
		labelSource:   o.Source,
		labelVersion:  o.Version,
		labelRevision: o.Revision,
		labelTitle:    "hpa-autoscaler",
	}
}

// passwd and group name distroless's users: root, and nonroot (65532) that
// the image runs as.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// rootfs is the layer's tar: the directories, /etc/passwd, /etc/group, the
// CA bundle and the binary, owned by root (the binary is not writable by
// the user it runs as), each with the source date as its time.
func rootfs(o options, bin string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(path string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode,
			Uid: uid, Gid: uid, ModTime: o.SourceDate, Format: tar.FormatPAX})
	}
	file := func(path string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode,
			Size: int64(len(data)), ModTime: o.SourceDate, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"etc", "etc/ssl", "etc/ssl/certs", "home", "root"} {
		if err := dir(d, 0o755, 0); err != nil {
			return nil, err
		}
	}
	// The user's home, and /tmp for anything that wants one (the chart
	// mounts an emptyDir there under a read-only root).
	if err := dir("home/nonroot", 0o700, 65532); err != nil {
		return nil, err
	}
	if err := dir("tmp", 0o1777, 0); err != nil {
		return nil, err
	}
	if err := file("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	if o.CACerts != "" {
		ca, err := os.ReadFile(o.CACerts)
		if err != nil {
			return nil, fmt.Errorf("-ca-certs: %w", err)
		}
		if err := file(strings.TrimPrefix(caBundle, "/"), 0o644, ca); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	if err := file(strings.TrimPrefix(entrypoint, "/"), 0o755, data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
