// Package interop checks lpsigner's output with go-ethereum v1.13.5 (the version go-livepeer
// v0.9.1 pins) and Google's Go protobuf runtime, following go-livepeer's rules as written in its
// crypto, pm and core packages. go-livepeer's own module could not be imported: the Go module
// proxy refuses github.com/livepeer/go-livepeer (403 "This module version is not available", for
// the version list and for v0.9.1), so these rules are restated here, not copied.
package interop

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

var secp256k1HalfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

// recoverSigner is go-livepeer's signature rule (crypto.VerifySig): 65 bytes r‖s‖v, low s,
// v in {27, 28}, recovered over the EIP-191 text hash of msg.
func recoverSigner(msg, sig []byte) (common.Address, error) {
	if len(sig) != 65 {
		return common.Address{}, errors.New("signature is not 65 bytes")
	}
	if new(big.Int).SetBytes(sig[32:64]).Cmp(secp256k1HalfN) > 0 {
		return common.Address{}, errors.New("signature s is above n/2")
	}
	if sig[64] != 27 && sig[64] != 28 {
		return common.Address{}, errors.New("signature v is not 27 or 28")
	}
	rsv := append([]byte(nil), sig...)
	rsv[64] -= 27
	pub, err := crypto.SigToPub(textHash(msg), rsv)
	if err != nil {
		return common.Address{}, err
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// textHash is EIP-191's personal-message hash, as go-ethereum's accounts.TextHash computes it
// (that package is not imported: it pulls in go-ethereum's core types and KZG code, minutes of
// compiling for one line).
func textHash(msg []byte) []byte {
	return crypto.Keccak256([]byte(fmt.Sprintf("\x19Ethereum Signed Message:\n%d%s", len(msg), msg)))
}

func verifySig(addr common.Address, msg, sig []byte) bool {
	got, err := recoverSigner(msg, sig)
	return err == nil && got == addr
}

// ticket is pm.Ticket's signed fields.
type ticket struct {
	Recipient, Sender      common.Address
	FaceValue, WinProb     *big.Int
	SenderNonce            uint32
	RecipientRandHash      common.Hash
	CreationRound          int64
	CreationRoundBlockHash common.Hash
}

// hash is pm.Ticket.Hash: keccak256 of recipient ‖ sender ‖ uint256 faceValue ‖ uint256 winProb ‖
// uint256 senderNonce ‖ recipientRandHash ‖ auxData (uint256 creationRound ‖ its block hash,
// present when either is set).
func (t *ticket) hash() common.Hash {
	buf := append(t.Recipient.Bytes(), t.Sender.Bytes()...)
	buf = append(buf, common.LeftPadBytes(t.FaceValue.Bytes(), 32)...)
	buf = append(buf, common.LeftPadBytes(t.WinProb.Bytes(), 32)...)
	buf = append(buf, common.LeftPadBytes(new(big.Int).SetUint64(uint64(t.SenderNonce)).Bytes(), 32)...)
	buf = append(buf, t.RecipientRandHash.Bytes()...)
	if t.CreationRound != 0 || t.CreationRoundBlockHash != (common.Hash{}) {
		buf = append(buf, common.LeftPadBytes(big.NewInt(t.CreationRound).Bytes(), 32)...)
		buf = append(buf, t.CreationRoundBlockHash.Bytes()...)
	}
	return crypto.Keccak256Hash(buf)
}

// recipient is the part of pm's validator and recipient that judges a ticket: recipient, sender,
// recipientRand, the sender's signature, one use per nonce per recipientRand, and winning.
type recipient struct {
	addr          common.Address
	recipientRand *big.Int
	seen          map[uint32]bool
}

func (r *recipient) receive(t *ticket, sig []byte) (won bool, err error) {
	switch {
	case t.Recipient != r.addr:
		return false, errors.New("invalid ticket recipient")
	case t.Sender == common.Address{}:
		return false, errors.New("invalid ticket sender")
	case crypto.Keccak256Hash(common.LeftPadBytes(r.recipientRand.Bytes(), 32)) != t.RecipientRandHash:
		return false, errors.New("invalid recipientRand for recipientRandHash")
	case !verifySig(t.Sender, t.hash().Bytes(), sig):
		return false, errors.New("invalid sender signature over ticket hash")
	case r.seen[t.SenderNonce]:
		return false, errors.New("invalid ticket senderNonce: already seen")
	}
	r.seen[t.SenderNonce] = true
	// Winning: keccak256(sig ‖ uint256 recipientRand) < winProb, as TicketBroker checks it.
	res := crypto.Keccak256(sig, common.LeftPadBytes(r.recipientRand.Bytes(), 32))
	return new(big.Int).SetBytes(res).Cmp(t.WinProb) < 0, nil
}

// segmentMessage is core.SegTranscodingMetadata.Flatten for the segment the remote signer
// describes: manifestID ‖ uint256 seq ‖ hash ‖ profiles as hex (none).
func segmentMessage(manifestID []byte, seq int64, hash []byte) []byte {
	buf := append([]byte(nil), manifestID...)
	buf = append(buf, common.LeftPadBytes(big.NewInt(seq).Bytes(), 32)...)
	return append(buf, hash...)
}
