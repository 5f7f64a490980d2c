// Command devchain-ethclient talks to a running development chain (npm run dev-chain) with
// go-ethereum's ethclient, as go-livepeer does, and prints what it read as one JSON object.
// It exits non-zero, naming the call, on the first call that fails.
//
//	DEV_CHAIN_URL=http://127.0.0.1:8545 DEV_CHAIN_CONTROLLER=0x… DEV_CHAIN_ACCOUNT=0x… go run ./cmd/devchain-ethclient
//
// test/dev-chain-ethclient.test.ts runs it against a chain it starts.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

type result struct {
	ChainID      string `json:"chainId"`
	NetworkID    string `json:"networkId"`
	BlockNumber  uint64 `json:"blockNumber"`
	GasPrice     string `json:"gasPrice"`
	HeaderNumber string `json:"headerNumber"`
	HeaderHash   string `json:"headerHash"`
	Balance      string `json:"balance"`
	// The Controller's getContract(keccak256("TicketBroker")).
	TicketBroker string `json:"ticketBroker"`
	// eth_chainId and net_version sent as one batch by go-ethereum's rpc client.
	BatchChainID   string `json:"batchChainId"`
	BatchNetworkID string `json:"batchNetworkId"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devchain-ethclient:", err)
		os.Exit(1)
	}
}

func env(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	return v, nil
}

func run() error {
	url, err := env("DEV_CHAIN_URL")
	if err != nil {
		return err
	}
	controller, err := env("DEV_CHAIN_CONTROLLER")
	if err != nil {
		return err
	}
	account, err := env("DEV_CHAIN_ACCOUNT")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer client.Close()

	var out result
	chainID, err := client.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("ChainID: %w", err)
	}
	out.ChainID = chainID.String()
	networkID, err := client.NetworkID(ctx)
	if err != nil {
		return fmt.Errorf("NetworkID: %w", err)
	}
	out.NetworkID = networkID.String()
	if out.BlockNumber, err = client.BlockNumber(ctx); err != nil {
		return fmt.Errorf("BlockNumber: %w", err)
	}
	gasPrice, err := client.SuggestGasPrice(ctx)
	if err != nil {
		return fmt.Errorf("SuggestGasPrice: %w", err)
	}
	out.GasPrice = gasPrice.String()
	header, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		return fmt.Errorf("HeaderByNumber(nil): %w", err)
	}
	out.HeaderNumber = header.Number.String()
	out.HeaderHash = header.Hash().Hex()
	balance, err := client.BalanceAt(ctx, common.HexToAddress(account), nil)
	if err != nil {
		return fmt.Errorf("BalanceAt: %w", err)
	}
	out.Balance = balance.String()

	// getContract(bytes32): the selector, then the name's keccak256 as the one argument.
	to := common.HexToAddress(controller)
	data := append(crypto.Keccak256([]byte("getContract(bytes32)"))[:4], crypto.Keccak256([]byte("TicketBroker"))...)
	ret, err := client.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return fmt.Errorf("CallContract getContract: %w", err)
	}
	if len(ret) != 32 {
		return fmt.Errorf("CallContract getContract: %d bytes returned, want 32", len(ret))
	}
	out.TicketBroker = common.BytesToAddress(ret).Hex()

	var batchChainID hexutil.Big
	batch := []rpc.BatchElem{
		{Method: "eth_chainId", Result: &batchChainID},
		{Method: "net_version", Result: &out.BatchNetworkID},
	}
	if err := client.Client().BatchCallContext(ctx, batch); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for _, b := range batch {
		if b.Error != nil {
			return fmt.Errorf("batch %s: %w", b.Method, b.Error)
		}
	}
	out.BatchChainID = batchChainID.ToInt().String()

	return json.NewEncoder(os.Stdout).Encode(out)
}
