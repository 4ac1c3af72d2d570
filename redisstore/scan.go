package redisstore

import (
	"context"

	"github.com/cachekit/cachekit/backend"
)

// Count implements backend.Store: SCAN MATCH prefix* on every master.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	c, err := s.use(ctx)
	if err != nil {
		return 0, err
	}
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	n := 0
	err = s.scan(ctx, c, prefix, func(keys []string) error {
		dead, err := s.expiredByClock(ctx, c, keys)
		n += len(keys) - len(dead)
		return err
	})
	return n, err
}

// Clear implements backend.Store: SCAN MATCH prefix* on every master, UNLINKing each page.
func (s *Store) Clear(ctx context.Context, prefix string) (int, error) {
	c, err := s.use(ctx)
	if err != nil {
		return 0, err
	}
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	n := 0
	err = s.scan(ctx, c, prefix, func(keys []string) error {
		removed, err := s.unlink(ctx, c, keys)
		n += removed
		return err
	})
	return n, err
}

// scan hands page every page of keys under prefix, master by master. Replicas are skipped:
// they hold the same keys as their masters.
func (s *Store) scan(ctx context.Context, c Client, prefix string, page func([]string) error) error {
	pattern := escapeGlob(prefix) + "*"
	for _, node := range c.Nodes() {
		role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
		if err != nil {
			return wrap(ctx, "ROLE", err)
		}
		if len(role) == 0 {
			continue
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue
		}
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(s.o.ScanCount).Build()).AsScanEntry()
			if err != nil {
				return wrap(ctx, "SCAN", err)
			}
			if len(e.Elements) > 0 {
				if err := page(e.Elements); err != nil {
					return err
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}
