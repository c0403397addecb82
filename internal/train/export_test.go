package train

// NoPacks makes s multiply by the weights themselves, packing them on
// every product as before nn.Packs, for tests that compare the two.
func (s *Stepper) NoPacks() {
	s.packs = nil
	for _, bl := range s.blocks {
		bl.tape.Packs = nil
	}
}
