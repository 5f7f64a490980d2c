/**
 * The Kafka flags, checked: go-livepeer's -kafkaBootstrapServers, -kafkaUser, -kafkaPassword and
 * -kafkaGatewayTopic, plus what go-livepeer fixes in code (SASL PLAIN over TLS whenever a user is
 * given): -kafkaSaslMechanism, -kafkaTls and -kafkaTlsCa. The password is never read from the
 * command line, where `ps` shows it: LP_KAFKAPASSWORD in the environment, or -kafkaPassword naming
 * a file that holds it.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/errors.js";
import type { RawFlags } from "../config/flags.js";

export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;

export interface KafkaConfig {
  /** host:port, one or more (any of them is enough to find the cluster). */
  brokers: string[];
  topic: string;
  sasl?: { mechanism: (typeof SASL_MECHANISMS)[number]; username: string; password: string };
  /** TLS to the brokers; `ca` (PEM) replaces the system's CAs when given. */
  tls?: { ca?: string };
}

type KafkaFlags = Pick<RawFlags, "kafkaBootstrapServers" | "kafkaUser" | "kafkaPassword" | "kafkaGatewayTopic" | "kafkaSaslMechanism" | "kafkaTls" | "kafkaTlsCa">;

/** undefined when -kafkaBootstrapServers is empty (events stay in the outbox). */
export function parseKafkaConfig(flags: KafkaFlags, env: NodeJS.ProcessEnv = process.env): KafkaConfig | undefined {
  const servers = flags.kafkaBootstrapServers.trim();
  if (servers === "") {
    for (const flag of ["kafkaUser", "kafkaGatewayTopic", "kafkaTlsCa"] as const) {
      if (flags[flag] !== "") throw new ConfigError(`-${flag} needs -kafkaBootstrapServers`);
    }
    return undefined;
  }
  const brokers = servers.split(",").map((s) => s.trim()).filter(Boolean).map(checkBroker);
  if (brokers.length === 0) throw new ConfigError(`-kafkaBootstrapServers: no host:port in ${JSON.stringify(servers)} (a comma list, e.g. kafka-1:9092,kafka-2:9092)`);
  const topic = flags.kafkaGatewayTopic.trim();
  if (topic === "") throw new ConfigError("-kafkaBootstrapServers needs -kafkaGatewayTopic (the topic events are written to)");
  // Kafka's own rule for topic names.
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(topic) || topic === "." || topic === "..") {
    throw new ConfigError(`-kafkaGatewayTopic: not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249): ${JSON.stringify(topic)}`);
  }
  const user = flags.kafkaUser;
  const password = kafkaPassword(flags.kafkaPassword, env);
  if (user === "" && password !== undefined) throw new ConfigError("-kafkaPassword needs -kafkaUser");
  if (user !== "" && (password === undefined || password === "")) {
    throw new ConfigError("-kafkaUser needs a password: LP_KAFKAPASSWORD in the environment, or -kafkaPassword naming a file that holds it");
  }
  const mechanism = flags.kafkaSaslMechanism.trim().toUpperCase();
  if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new ConfigError(`-kafkaSaslMechanism must be one of ${SASL_MECHANISMS.join(", ")}, got ${JSON.stringify(flags.kafkaSaslMechanism)}`);
  }
  // go-livepeer: TLS whenever there is a user. "auto" keeps that; true/false say it outright.
  const tlsFlag = flags.kafkaTls.trim().toLowerCase();
  if (!["auto", "true", "false"].includes(tlsFlag)) throw new ConfigError(`-kafkaTls must be auto, true or false, got ${JSON.stringify(flags.kafkaTls)}`);
  const tlsOn = tlsFlag === "auto" ? user !== "" || flags.kafkaTlsCa !== "" : tlsFlag === "true";
  if (!tlsOn && flags.kafkaTlsCa !== "") throw new ConfigError("-kafkaTlsCa needs TLS (-kafkaTls false turns it off)");
  let ca: string | undefined;
  if (flags.kafkaTlsCa !== "") {
    try {
      ca = readFileSync(flags.kafkaTlsCa, "utf8");
    } catch (err) {
      throw new ConfigError(`-kafkaTlsCa: cannot read ${flags.kafkaTlsCa}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`-kafkaTlsCa: ${flags.kafkaTlsCa} holds no PEM certificate`);
  }
  return {
    brokers,
    topic,
    sasl: user === "" ? undefined : { mechanism: mechanism as (typeof SASL_MECHANISMS)[number], username: user, password: password! },
    tls: tlsOn ? (ca ? { ca } : {}) : undefined,
  };
}

function checkBroker(text: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(`-kafkaBootstrapServers: not host:port: ${JSON.stringify(text)} (a comma list, e.g. kafka-1:9092,kafka-2:9092)`);
  }
  return text;
}

/**
 * The password from LP_KAFKAPASSWORD, or from the file that -kafkaPassword names on the command
 * line. A value that reached the flag from the command line and is not a readable file is refused
 * without being quoted: it may be the password itself.
 */
function kafkaPassword(flag: string, env: NodeJS.ProcessEnv): string | undefined {
  if (flag === "") return undefined;
  if (env.LP_KAFKAPASSWORD !== undefined && flag === env.LP_KAFKAPASSWORD) return flag;
  let text: string;
  try {
    text = readFileSync(flag, "utf8");
  } catch {
    throw new ConfigError("-kafkaPassword on the command line must name a readable file holding the password (a password there would show in ps); or set LP_KAFKAPASSWORD in the environment");
  }
  return text.replace(/\r?\n$/, "");
}
