package broker

// AlterUserScramCredentials: v0.
//
// Sets and deletes users' SCRAM credentials in etcd, as kafka-configs
// --alter --add-config 'SCRAM-SHA-512=[password=…]' and kadm's
// AlterUserSCRAMs do: an upsertion carries the salt and the salted
// password (KIP-554), never the password, and the broker keeps only the
// stored and server keys. This broker uses a change before it answers,
// every other broker once its watch of etcd sees it. Errors, per user as Kafka gives them: UNSUPPORTED_SASL_MECHANISM,
// UNACCEPTABLE_CREDENTIAL (an empty name, iterations outside 4096-16384, an
// empty salt or salted password), DUPLICATE_RESOURCE (a user and mechanism
// named twice), RESOURCE_NOT_FOUND (deleting a credential that does not
// exist). With the authorizer on it needs ALTER on the cluster.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/metadata"
)

func handleAlterUserScramCredentials(ctx context.Context, c *conn, req *kmsg.AlterUserSCRAMCredentialsRequest, resp *kmsg.AlterUserSCRAMCredentialsResponse) {
	type userMech struct {
		user string
		mech int8
	}
	results := map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult{}
	var order []string
	fail := func(user string, e *kerr.Error, msg string) {
		r := results[user]
		if r.ErrorCode == 0 {
			r.ErrorCode = e.Code
			if msg != "" {
				r.ErrorMessage = &msg
			}
		}
	}
	seen := map[userMech]int{}
	note := func(user string, mech int8) {
		if results[user] == nil {
			r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			r.User = user
			results[user] = &r
			order = append(order, user)
		}
		seen[userMech{user, mech}]++
	}
	for _, d := range req.Deletions {
		note(d.Name, d.Mechanism)
	}
	for _, u := range req.Upsertions {
		note(u.Name, u.Mechanism)
	}
	allowed := c.allowedOnCluster(kmsg.ACLOperationAlter)
	check := func(user string, mech int8) bool {
		switch {
		case !allowed:
			fail(user, kerr.ClusterAuthorizationFailed, "")
		case user == "":
			fail(user, kerr.UnacceptableCredential, "username must not be empty")
		case mech != int8(auth.ScramSHA256) && mech != int8(auth.ScramSHA512):
			fail(user, kerr.UnsupportedSaslMechanism, "unknown SCRAM mechanism")
		case seen[userMech{user, mech}] > 1:
			fail(user, kerr.DuplicateResource, "a user credential cannot be altered twice in the same request")
		}
		return results[user].ErrorCode == 0
	}
	// Validate everything first: Kafka applies nothing for a user with an
	// error in any of its alterations.
	for _, d := range req.Deletions {
		check(d.Name, d.Mechanism)
	}
	creds := map[userMech]auth.Credential{}
	for _, u := range req.Upsertions {
		if !check(u.Name, u.Mechanism) {
			continue
		}
		if len(u.Salt) == 0 || len(u.SaltedPassword) == 0 {
			fail(u.Name, kerr.UnacceptableCredential, "salt and salted password must not be empty")
			continue
		}
		cred, err := auth.CredentialFromSaltedPassword(auth.Mechanism(u.Mechanism), u.Salt, u.SaltedPassword, u.Iterations)
		if err != nil {
			fail(u.Name, kerr.UnacceptableCredential, err.Error())
			continue
		}
		creds[userMech{u.Name, u.Mechanism}] = cred
	}
	for _, d := range req.Deletions {
		if results[d.Name].ErrorCode != 0 {
			continue
		}
		err := c.srv.store.DeleteScramCredential(ctx, d.Name, auth.Mechanism(d.Mechanism))
		switch {
		case errors.Is(err, metadata.ErrNoCredential):
			fail(d.Name, kerr.ResourceNotFound, "attempt to delete a user credential that does not exist")
		case err != nil:
			fail(d.Name, asKerr(err), "")
		}
	}
	for _, u := range req.Upsertions {
		cred, ok := creds[userMech{u.Name, u.Mechanism}]
		if !ok || results[u.Name].ErrorCode != 0 {
			continue
		}
		if err := c.srv.store.PutScramCredential(ctx, u.Name, cred); err != nil {
			fail(u.Name, asKerr(err), "")
		}
	}
	// This broker authenticates with a changed credential before it
	// answers; the others as soon as their watch of etcd sees it.
	if err := c.srv.awaitSecurity(ctx); err != nil {
		c.srv.log.Warn("alter SCRAM credentials: waiting for the change to reach this broker", "error", err)
	}
	for _, user := range order {
		resp.Results = append(resp.Results, *results[user])
	}
}
