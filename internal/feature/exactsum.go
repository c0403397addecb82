package feature

import (
	"fmt"
	"math"
	"math/big"
)

// exactSum adds float64 values without rounding: every finite float64 is an
// integer multiple of 2⁻¹⁰⁷⁴, so the sum is kept as that integer, in limbs
// of 32 bits held in int64 words (a limb can absorb 2³¹ additions before
// its carry must move up). The sum is therefore the same whatever the
// order of the values and however they were grouped, which is what makes
// fits over shards merge into exactly the fit over the concatenated rows;
// Float64 rounds it once, to the nearest float64.
type exactSum struct {
	limbs [exactLimbs]int64
	adds  int32 // additions since the last carry
}

// exactLimbs covers bits 0 … 2098 above 2⁻¹⁰⁷⁴: the 2046 of the float64
// range, 53 of mantissa and room for carries.
const exactLimbs = 67

func (s *exactSum) add(x float64) {
	b := math.Float64bits(x)
	e := int(b>>52) & 0x7ff
	m := b & (1<<52 - 1)
	if e == 0x7ff {
		panic(fmt.Sprintf("feature: exact sum of %v", x)) // the fit checks values first
	}
	if e == 0 {
		e = 1 // subnormal
	} else {
		m |= 1 << 52
	}
	p := e - 1 // x = ±m·2^(p−1074)
	k, sh := p>>5, uint(p&31)
	lo := int64((m << sh) & 0xffffffff)
	hi := m >> (32 - sh)
	mid, top := int64(hi&0xffffffff), int64(hi>>32)
	if b>>63 != 0 {
		lo, mid, top = -lo, -mid, -top
	}
	s.limbs[k] += lo
	s.limbs[k+1] += mid
	s.limbs[k+2] += top
	if s.adds++; s.adds == 1<<30 {
		s.carry()
	}
}

// carry moves every limb's overflow into the next one (limbs then hold
// 0 … 2³²−1, the top one the sign).
func (s *exactSum) carry() {
	for i := 0; i < exactLimbs-1; i++ {
		c := s.limbs[i] >> 32
		s.limbs[i] -= c << 32
		s.limbs[i+1] += c
	}
	s.adds = 0
}

// merge adds the values summed by o.
func (s *exactSum) merge(o *exactSum) {
	s.carry()
	for i, v := range o.limbs {
		s.limbs[i] += v
	}
	s.carry()
}

// big returns the sum as an integer number of 2⁻¹⁰⁷⁴.
func (s *exactSum) big() *big.Int {
	c := *s
	c.carry()
	n := new(big.Int)
	for i := exactLimbs - 1; i >= 0; i-- {
		n.Lsh(n, 32)
		n.Add(n, big.NewInt(c.limbs[i]))
	}
	return n
}

// Float64 returns the sum rounded to the nearest float64.
func (s *exactSum) Float64() float64 {
	f := new(big.Float).SetPrec(2200).SetInt(s.big())
	f.SetMantExp(f, -1074)
	x, _ := f.Float64()
	return x
}

// MarshalText writes the sum as the decimal integer of 2⁻¹⁰⁷⁴ units.
func (s *exactSum) MarshalText() ([]byte, error) { return s.big().MarshalText() }

// UnmarshalText reads MarshalText's form.
func (s *exactSum) UnmarshalText(b []byte) error {
	n := new(big.Int)
	if err := n.UnmarshalText(b); err != nil {
		return fmt.Errorf("exact sum: %w", err)
	}
	if n.BitLen() > 32*(exactLimbs-1) {
		return fmt.Errorf("exact sum: %d bits, beyond the float64 range", n.BitLen())
	}
	neg := n.Sign() < 0
	m := new(big.Int).Abs(n)
	*s = exactSum{}
	mask := big.NewInt(0xffffffff)
	for i := range s.limbs {
		s.limbs[i] = new(big.Int).And(m, mask).Int64()
		m.Rsh(m, 32)
		if neg {
			s.limbs[i] = -s.limbs[i]
		}
	}
	return nil
}
