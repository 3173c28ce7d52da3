// Package redact removes secret values (DB passwords, static keys, API tokens) from text and
// from log records. Code never logs secrets on purpose; this is the net under that rule.
package redact

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "****"

// Redactor replaces known secret values. It learns secrets as they are read (Add), so a
// logger built at start also masks a secret first read during an invocation.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	r       *strings.Replacer
}

// New returns a redactor of the given secrets (values shorter than 4 bytes are ignored:
// replacing them would mangle ordinary text).
func New(secrets []string) *Redactor {
	x := &Redactor{secrets: map[string]bool{}}
	x.Add(secrets...)
	return x
}

// Add teaches the redactor more secrets.
func (x *Redactor) Add(secrets ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	changed := false
	for _, s := range secrets {
		if len(s) >= 4 && !x.secrets[s] {
			x.secrets[s] = true
			changed = true
		}
	}
	if !changed {
		return
	}
	sorted := make([]string, 0, len(x.secrets))
	for s := range x.secrets {
		sorted = append(sorted, s)
	}
	sort.Slice(sorted, func(i, j int) bool {
		return len(sorted[i]) > len(sorted[j]) || len(sorted[i]) == len(sorted[j]) && sorted[i] < sorted[j]
	}) // longest first
	pairs := make([]string, 0, 2*len(sorted))
	for _, s := range sorted {
		pairs = append(pairs, s, Mask)
	}
	x.r = strings.NewReplacer(pairs...)
}

// String returns s with every secret masked.
func (x *Redactor) String(s string) string {
	if x == nil {
		return s
	}
	x.mu.RLock()
	r := x.r
	x.mu.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// Handler wraps h so that every message and string attribute is redacted.
func (x *Redactor) Handler(h slog.Handler) slog.Handler {
	if x == nil {
		return h
	}
	return &handler{next: h, x: x}
}

type handler struct {
	next slog.Handler
	x    *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, h.x.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, nr)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.x.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.x.String(err.Error()))
		}
		return slog.String(a.Key, h.x.String(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.attr(a)
	}
	return &handler{next: h.next.WithAttrs(out), x: h.x}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), x: h.x}
}
