package config

import (
	"fmt"

	"github.com/sluicehq/sluice/middleware"
)

// Compress is a route's response compression (docs/configuration.md,
// "compress"). A route without one takes defaults.compress; a route's own
// block replaces the default whole (the fields it leaves out take the
// defaults below, not those of defaults.compress). Compression is off
// unless one of the two is written.
type Compress struct {
	// Algorithms offered, the preferred first: zstd, br, gzip. Default:
	// middleware.DefaultCompressAlgorithms.
	Algorithms []string `yaml:"algorithms"`
	// MinSize is the smallest answer compressed, in bytes. Default 0:
	// middleware.DefaultCompressMinSize; -1 compresses any size.
	MinSize int `yaml:"min_size"`
	// TypesExcluded are the media types never compressed (type/subtype or
	// type/*); they replace middleware.DefaultCompressTypesExcluded.
	TypesExcluded []string `yaml:"types_excluded"`
	// Level is fastest, default or best. Default "default".
	Level string `yaml:"level"`
	// MaxEncoders is how many answers the gateway compresses at once,
	// counted across every route: each holds an encoder of 1 to 6 MiB until
	// it ends, so streams and slow clients could otherwise hold any amount.
	// The route's answers beyond it go uncompressed. Default 0:
	// middleware.DefaultCompressMaxEncoders.
	MaxEncoders int `yaml:"max_encoders"`
	// Disabled turns a route's compression off, when defaults.compress
	// sets one.
	Disabled bool `yaml:"disabled"`
}

// routeCompress returns the compress block route i uses and the path it
// was written at, or nil.
func (c *Config) routeCompress(i int) (*Compress, string) {
	if cc := c.Routes[i].Compress; cc != nil {
		if cc.Disabled {
			return nil, ""
		}
		return cc, fmt.Sprintf("routes[%d].compress", i)
	}
	if cc := c.Defaults.Compress; cc != nil && !cc.Disabled {
		return cc, "defaults.compress"
	}
	return nil, ""
}

// build checks cc, written at path, and returns its policy.
func (cc *Compress) build(c *Config, path string) (*middleware.Compress, error) {
	for i, a := range cc.Algorithms {
		at := fmt.Sprintf("%s.algorithms[%d]", path, i)
		if _, err := middleware.NewCompress(middleware.CompressSettings{Algorithms: []string{a}}); err != nil {
			return nil, c.errorAt(at, "%v", err)
		}
		for _, b := range cc.Algorithms[:i] {
			if a == b {
				return nil, c.errorAt(at, "%q is listed twice", a)
			}
		}
	}
	if cc.MinSize < -1 {
		return nil, c.errorAt(path+".min_size", "must be -1 (any size), 0 (the default, %d) or more", middleware.DefaultCompressMinSize)
	}
	if cc.MaxEncoders < 0 {
		return nil, c.errorAt(path+".max_encoders", "must be 0 (the default, %d) or more", middleware.DefaultCompressMaxEncoders)
	}
	for i, t := range cc.TypesExcluded {
		if err := middleware.CheckCompressType(t); err != nil {
			return nil, c.errorAt(fmt.Sprintf("%s.types_excluded[%d]", path, i), "%v", err)
		}
	}
	types := cc.TypesExcluded
	if types == nil {
		types = middleware.DefaultCompressTypesExcluded
	}
	policy, err := middleware.NewCompress(middleware.CompressSettings{Algorithms: cc.Algorithms, MinSize: cc.MinSize,
		TypesExcluded: types, Level: cc.Level, MaxEncoders: cc.MaxEncoders})
	if err != nil {
		at := path
		if cc.Level != "" {
			at = path + ".level"
		}
		return nil, c.errorAt(at, "%v", err)
	}
	return policy, nil
}

// buildCompress checks defaults.compress and every route's compress, and
// builds the policy of each route that has one. Routes that take
// defaults.compress share its policy (and its pools of encoders).
func (c *Config) buildCompress() error {
	var shared *middleware.Compress
	if cc := c.Defaults.Compress; cc != nil && !cc.Disabled {
		var err error
		if shared, err = cc.build(c, "defaults.compress"); err != nil {
			return err
		}
	}
	c.compress = make([]*middleware.Compress, len(c.Routes))
	for i := range c.Routes {
		cc, path := c.routeCompress(i)
		switch {
		case cc == nil:
		case path == "defaults.compress":
			c.compress[i] = shared
		default:
			policy, err := cc.build(c, path)
			if err != nil {
				return err
			}
			c.compress[i] = policy
		}
	}
	return nil
}

// RouteCompress returns the compression policy of route i, or nil when its
// answers are not compressed.
func (c *Config) RouteCompress(i int) *middleware.Compress {
	if i < len(c.compress) {
		return c.compress[i]
	}
	return nil
}
