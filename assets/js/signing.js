// How a page gets a server-built message signed, for every flow (sign-in, linking a wallet,
// re-authentication): the server writes the message (a POST to a .../challenge endpoint), and
// either a browser wallet signs it or the person copies it, signs it elsewhere and pastes the
// signature. The pages never build an EIP-4361 message themselves.

import { copyText, notify, UserFacingError } from "./api.js";
import { ensureChain, personalSign, requestAccount } from "./wallet.js";

/**
 * Has the browser wallet `provider` sign the message `challenge({address, chainId})` returns,
 * after moving it to one of `allowedChains`; returns {message, signature}.
 */
export async function signWithWallet(provider, allowedChains, challenge) {
  const address = await requestAccount(provider);
  let chainId;
  try {
    chainId = await ensureChain(provider, allowedChains);
  } catch (err) {
    if (err.wrongNetwork) throw new UserFacingError(err.message, "wrong_network");
    throw err;
  }
  const { message } = await challenge({ address, chainId });
  return { message, signature: await personalSign(provider, message, address) };
}

/**
 * Wires the copy-sign-paste flow whose elements are named after `prefix`: the address
 * (`<prefix>-address`, an input in `<prefix>-address-form`, or a select that reloads the message
 * when it changes), the message box (`<prefix>-message`) with its copy button
 * (`copy-<prefix>-message`), and `<prefix>-sign-form` with the pasted `<prefix>-signature`.
 * `challenge({address})` fetches the message, `submit(message, signature)` sends the result,
 * and `run(button, action)` runs each step (busy button, errors shown). Returns {load, reset}.
 */
export function setUpManualSigning({ prefix, challenge, submit, run }) {
  const byId = (id) => document.getElementById(id);
  const addressForm = byId(`${prefix}-address-form`);
  const address = byId(`${prefix}-address`);
  const signForm = byId(`${prefix}-sign-form`);
  const messageBox = byId(`${prefix}-message`);
  const signature = byId(`${prefix}-signature`);

  async function load() {
    messageBox.value = "";
    messageBox.value = (await challenge({ address: address.value.trim() })).message;
    signForm.hidden = false;
  }
  function reset() {
    signForm.reset();
    messageBox.value = "";
    if (addressForm) {
      addressForm.reset();
      signForm.hidden = true;
    }
  }

  if (addressForm) {
    addressForm.addEventListener("submit", (event) => {
      event.preventDefault();
      run(addressForm.querySelector("button"), async () => {
        await load();
        signature.focus();
      });
    });
  } else {
    address.addEventListener("change", () => load().catch((err) => notify(err.message)));
  }
  byId(`copy-${prefix}-message`).addEventListener("click", (event) =>
    copyText(messageBox.value, event.currentTarget),
  );
  signForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(signForm.querySelector("button[type=submit]"), () =>
      submit(messageBox.value, signature.value.trim()),
    );
  });
  return { load, reset };
}
