/** The -kafka* flags through parseFlags and loadConfig: what they turn into, what is refused, and where the password may come from. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ConfigError } from "../src/config/errors.js";
import { parseFlags, usage } from "../src/config/flags.js";
import { loadConfig } from "../src/config/load-config.js";

const dir = mkdtempSync(join(tmpdir(), "lpsigner-kafka-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const passwordFile = join(dir, "kafka-password");
writeFileSync(passwordFile, "file-secret-pw\n");
const caFile = join(dir, "ca.pem");
writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");

function load(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return loadConfig(parseFlags(argv, env)!, env);
}
function loadError(argv: string[], env: NodeJS.ProcessEnv = {}): Error {
  try {
    load(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as Error;
  }
  throw new Error("expected a ConfigError");
}

const base = ["-kafkaBootstrapServers", "kafka-1:9092, kafka-2:9093,[::1]:9094", "-kafkaGatewayTopic", "gateway_events"];

describe("-kafka* flags", () => {
  test("none: no Kafka, and no warning about them any more", () => {
    const config = load([]);
    expect(config.kafka).toBeUndefined();
    expect(config.warnings.join("\n")).not.toContain("kafka");
  });

  test("a comma list of brokers and a topic: plain TCP, no SASL", () => {
    expect(load(base).kafka).toEqual({ brokers: ["kafka-1:9092", "kafka-2:9093", "[::1]:9094"], topic: "gateway_events", sasl: undefined, tls: undefined });
  });

  test("a user: SASL PLAIN over TLS by default, as go-livepeer; the password from LP_KAFKAPASSWORD", () => {
    const config = load([...base, "-kafkaUser", "alice"], { LP_KAFKAPASSWORD: "env-secret-pw" });
    expect(config.kafka?.sasl).toEqual({ mechanism: "PLAIN", username: "alice", password: "env-secret-pw" });
    expect(config.kafka?.tls).toEqual({});
  });

  test("-kafkaPassword on the command line names a file; SCRAM; a CA; TLS can be turned off", () => {
    const config = load([...base, "-kafkaUser", "alice", "-kafkaPassword", passwordFile, "-kafkaSaslMechanism", "scram-sha-512", "-kafkaTlsCa", caFile]);
    expect(config.kafka?.sasl).toEqual({ mechanism: "SCRAM-SHA-512", username: "alice", password: "file-secret-pw" });
    expect(config.kafka?.tls?.ca).toContain("BEGIN CERTIFICATE");
    expect(load([...base, "-kafkaUser", "alice", "-kafkaTls=false"], { LP_KAFKAPASSWORD: "x" }).kafka?.tls).toBeUndefined();
    expect(load([...base, "-kafkaTls", "true"]).kafka?.tls).toEqual({});
  });

  test("a password given literally on the command line is refused without being quoted", () => {
    const err = loadError([...base, "-kafkaUser", "alice", "-kafkaPassword", "literal-secret-pw"]);
    expect(err.message).toMatch(/-kafkaPassword on the command line must name a readable file/);
    expect(err.message).not.toContain("literal-secret-pw");
  });

  test.each([
    [["-kafkaBootstrapServers", "kafka:9092"], /-kafkaBootstrapServers needs -kafkaGatewayTopic/],
    [["-kafkaBootstrapServers", "kafka", "-kafkaGatewayTopic", "t"], /-kafkaBootstrapServers: not host:port: "kafka"/],
    [["-kafkaBootstrapServers", "kafka://k:9092", "-kafkaGatewayTopic", "t"], /not host:port/],
    [["-kafkaBootstrapServers", "k:99999", "-kafkaGatewayTopic", "t"], /not host:port/],
    [["-kafkaBootstrapServers", " , ", "-kafkaGatewayTopic", "t"], /-kafkaBootstrapServers: no host:port in ","/],
    [[...base.slice(0, 2), "-kafkaGatewayTopic", "bad topic"], /-kafkaGatewayTopic: not a Kafka topic name/],
    [["-kafkaGatewayTopic", "t"], /-kafkaGatewayTopic needs -kafkaBootstrapServers/],
    [["-kafkaUser", "u"], /-kafkaUser needs -kafkaBootstrapServers/],
    [[...base, "-kafkaUser", "u"], /-kafkaUser needs a password: LP_KAFKAPASSWORD/],
    [[...base, "-kafkaPassword", passwordFile], /-kafkaPassword needs -kafkaUser/],
    [[...base, "-kafkaUser", "u", "-kafkaPassword", passwordFile, "-kafkaSaslMechanism", "GSSAPI"], /-kafkaSaslMechanism must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/],
    [[...base, "-kafkaTls", "maybe"], /-kafkaTls must be auto, true or false/],
    [[...base, "-kafkaTlsCa", join(dir, "missing.pem")], /-kafkaTlsCa: cannot read .*: ENOENT/],
    [[...base, "-kafkaTlsCa", passwordFile], /holds no PEM certificate/],
    [[...base, "-kafkaTls", "false", "-kafkaTlsCa", caFile], /-kafkaTlsCa needs TLS/],
  ])("%j is refused", (argv, reason) => {
    expect(loadError(argv).message).toMatch(reason);
  });

  test("--help lists them", () => {
    for (const flag of ["kafkaBootstrapServers", "kafkaGatewayTopic", "kafkaUser", "kafkaPassword", "kafkaSaslMechanism", "kafkaTls", "kafkaTlsCa"]) {
      expect(usage()).toContain(`-${flag} value`);
    }
  });
});
