package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryDigest is the digest of the manifest tagged imageName in its registry, "" when the tag is
// not there. The tag names the version and its build context's content hash, so a tag already in the
// registry (pushed by another stack sharing the registry, or by a run whose state was lost) holds
// this very build: reading its digest replaces a build and a push.
// Any answer other than "found" or "not found" (unreachable, refused credentials) is an error, and
// the caller builds as before: the push then reports what is wrong.
type registryDigest func(ctx context.Context, imageName, username, password string) (string, error)

func headDigest(ctx context.Context, imageName, username, password string) (string, error) {
	// name.Insecure allows plain HTTP only where docker itself does without configuration
	// (localhost and 127.0.0.0/8 registries); everything else is reached over HTTPS.
	ref, err := name.NewTag(imageName, name.Insecure)
	if err != nil {
		return "", err
	}
	auth := authn.Anonymous
	if username != "" && password != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}
