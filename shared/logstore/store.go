package logstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/logwise/controlplane/shared/fault"
)

// S3API is the part of *s3.Client the store uses.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// maxDeleteBatch is the most keys one DeleteObjects request may carry.
const maxDeleteBatch = 1000

// Store reads and deletes one tenant's pipeline objects in its bucket.
type Store struct {
	client S3API
	bucket string
	layout Layout
}

// New returns a Store for the bucket laid out as layout.
func New(client S3API, bucket string, layout Layout) *Store {
	return &Store{client: client, bucket: bucket, layout: layout}
}

// Layout returns the store's layout.
func (s *Store) Layout() Layout { return s.layout }

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// ListServices returns every service that has a directory under the logs root, sorted, from a
// delimiter listing of "<logsDir>/service_name=" that follows continuation tokens (one request
// per 1000 services). Names are unescaped but not validated: see CheckServiceName.
func (s *Store) ListServices(ctx context.Context) ([]string, error) {
	var out []string
	err := s.listPrefixes(ctx, s.layout.ServicesPrefix(), func(p string) {
		if svc, ok := s.layout.ParseServicePrefix(p); ok {
			out = append(out, svc)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list services in s3://%s/%s: %w", s.bucket, s.layout.ServicesPrefix(), err)
	}
	// A page boundary inside one service's objects can repeat its prefix on the next page
	// (gofakes3 does; S3 does not document it never happens), so duplicates are dropped.
	sort.Strings(out)
	return slices.Compact(out), nil
}

// SparkMetadataFiles returns the names (not keys) of the file-sink log files under
// "<logsDir>/_spark_metadata/", e.g. "41", "39.compact", sorted as S3 lists them.
func (s *Store) SparkMetadataFiles(ctx context.Context) ([]string, error) {
	prefix := s.layout.SparkMetadataPrefix()
	var out []string
	err := s.listKeys(ctx, prefix, func(keys []string) error {
		for _, k := range keys {
			if name := strings.TrimPrefix(k, prefix); name != "" && !strings.Contains(name, "/") {
				out = append(out, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list spark metadata in s3://%s/%s: %w", s.bucket, prefix, err)
	}
	return out, nil
}

// NewestMinute returns the start of the newest minute partition of svc at or before now's hour,
// searching the UTC hour buckets from now's back to now − lookbackHours. Each bucket costs one
// delimiter LIST of ".../hour=HH/minute=" (an hour has at most 60 minute directories, so one
// page), newest bucket first, stopping at the first bucket with data: at most lookbackHours+1
// LIST requests however many objects there are. found is false when no bucket has data.
func (s *Store) NewestMinute(ctx context.Context, svc string, now time.Time, lookbackHours int) (newest time.Time, found bool, err error) {
	now = now.UTC()
	for h := 0; h <= lookbackHours; h++ {
		bucket := now.Add(-time.Duration(h) * time.Hour)
		prefix := s.layout.MinutesPrefix(svc, bucket)
		err := s.listPrefixes(ctx, prefix, func(p string) {
			if t, ok := ParseMinutePartition(p); ok && (!found || t.After(newest)) {
				newest, found = t, true
			}
		})
		if err != nil {
			return time.Time{}, false, fmt.Errorf("list minutes in s3://%s/%s: %w", s.bucket, prefix, err)
		}
		if found {
			return newest, true, nil
		}
	}
	return time.Time{}, false, nil
}

// DeleteReport says what DeleteSparkState did.
type DeleteReport struct {
	Prefixes  []string   // the prefixes emptied: the checkpoint and the file-sink log
	Deleted   int        // keys S3 accepted for deletion
	Failed    []KeyError // keys S3 refused
	Remaining int        // keys found under the prefixes by the final check
}

// KeyError is one key a DeleteObjects request did not delete.
type KeyError struct {
	Key, Code, Message string
}

// DeleteSparkState deletes the whole checkpoint and the file-sink log "<logsDir>/_spark_metadata/"
// and nothing else: data partitions stay. It lists each prefix page by page, deletes each page
// with one DeleteObjects request (at most 1000 keys), collects the keys S3 refused, then lists
// both prefixes again. It returns an error unless every key was deleted and nothing is left;
// the report says how far it got either way. Deleting state that is already gone succeeds.
func (s *Store) DeleteSparkState(ctx context.Context) (DeleteReport, error) {
	cp, meta := s.layout.CheckpointPrefix(), s.layout.SparkMetadataPrefix()
	var rep DeleteReport
	if cp == "" || strings.HasPrefix(s.layout.LogsPrefix(), cp) || strings.HasPrefix(cp, s.layout.ServicesPrefix()) {
		return rep, fault.Invalidf("refusing to delete spark state: checkpoint dir %q would cover the logs dir %q",
			s.layout.CheckpointDir, s.layout.LogsDir)
	}
	rep.Prefixes = []string{cp, meta}
	for _, prefix := range rep.Prefixes {
		err := s.listKeys(ctx, prefix, func(keys []string) error {
			return s.deleteBatch(ctx, keys, &rep)
		})
		if err != nil {
			return rep, fmt.Errorf("delete spark state under s3://%s/%s: %w", s.bucket, prefix, err)
		}
	}
	for _, prefix := range rep.Prefixes {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(maxDeleteBatch),
		})
		if err != nil {
			return rep, s3Err(fmt.Errorf("verify s3://%s/%s is empty: %w", s.bucket, prefix, err))
		}
		rep.Remaining += len(out.Contents)
	}
	if len(rep.Failed) > 0 || rep.Remaining > 0 {
		first := ""
		if len(rep.Failed) > 0 {
			f := rep.Failed[0]
			first = fmt.Sprintf("; first failure %s: %s %s", f.Key, f.Code, f.Message)
		}
		return rep, fault.New(fault.Upstream, "delete spark state in s3://%s: %d keys refused, %d keys remain%s",
			s.bucket, len(rep.Failed), rep.Remaining, first)
	}
	return rep, nil
}

func (s *Store) deleteBatch(ctx context.Context, keys []string, rep *DeleteReport) error {
	for start := 0; start < len(keys); start += maxDeleteBatch {
		batch := keys[start:min(start+maxDeleteBatch, len(keys))]
		objs := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return s3Err(fmt.Errorf("delete %d keys from %s: %w", len(batch), batch[0], err))
		}
		for _, e := range out.Errors {
			rep.Failed = append(rep.Failed, KeyError{
				Key: aws.ToString(e.Key), Code: aws.ToString(e.Code), Message: aws.ToString(e.Message),
			})
		}
		rep.Deleted += len(batch) - len(out.Errors)
	}
	return nil
}

// listPrefixes calls fn with every common prefix of a "/"-delimited listing of prefix.
func (s *Store) listPrefixes(ctx context.Context, prefix string, fn func(string)) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	for {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return s3Err(err)
		}
		for _, p := range out.CommonPrefixes {
			fn(aws.ToString(p.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// listKeys calls fn with each page of keys under prefix (no delimiter).
func (s *Store) listKeys(ctx context.Context, prefix string, fn func([]string) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	for {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return s3Err(err)
		}
		keys := make([]string, 0, len(out.Contents))
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// s3Err classifies an S3 failure: a deadline is Timeout, anything else Upstream.
func s3Err(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(fault.Timeout, err, "s3 request timed out")
	}
	return fault.Wrap(fault.Upstream, err, "s3 request failed")
}
