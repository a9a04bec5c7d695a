// Signs in with the generated TypeScript client (openapi-typescript types + openapi-fetch),
// as a non-browser app would: nonce -> sign -> verify -> bearer session -> token -> logout.
// Type-checked with tsc first, so the generated types must fit this use without hand edits.
// Usage: tsx client.ts BASE_URL

import createClient from "openapi-fetch";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import type { paths } from "./generated/schema.js";

const base = process.argv[2];
const api = createClient<paths>({ baseUrl: base });
const wallet = privateKeyToAccount(generatePrivateKey());

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} failed`);
  return value;
}

const nonce = must((await api.GET("/api/auth/nonce")).data, "nonce");
const message = [
  `${nonce.domain} wants you to sign in with your Ethereum account:`,
  wallet.address,
  "",
  nonce.statement ?? "Sign in.",
  "",
  `URI: ${nonce.uri}`,
  `Version: ${nonce.version}`,
  `Chain ID: ${nonce.chainIds[0] ?? 1}`,
  `Nonce: ${nonce.nonce}`,
  `Issued At: ${new Date().toISOString()}`,
].join("\n");
const signature = await wallet.signMessage({ message });

const answer = must((await api.POST("/api/auth/verify", { body: { message, signature } })).data, "verify");
// 200 signs in; 202 would mean an email link was sent instead.
if (!("token" in answer)) throw new Error(`not signed in: ${answer.message}`);
const verified = answer;
if (!verified.created || verified.session.address !== wallet.address) throw new Error("unexpected sign-in");

const authed = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${verified.token}` } });
const session = must((await authed.GET("/api/auth/session")).data, "session");
if (session.user.id !== verified.user.id) throw new Error("session is someone else's");
const token = must((await authed.POST("/api/auth/token", { body: {} })).data, "token");
if (token.token.split(".").length !== 3) throw new Error("not a JWT");

const logout = await authed.POST("/api/auth/logout", {});
if (logout.response.status !== 204) throw new Error(`logout: ${logout.response.status}`);
const after = await authed.GET("/api/auth/session");
if (after.response.status !== 401 || after.error?.error !== "unauthenticated") throw new Error("still signed in");

console.log(`typescript client: signed in as ${session.user.name}, got a token, signed out`);
