//! The OpenID Connect provider's pages, rendered here (no script: the page policy allows none
//! inline): the consent page, an error page for requests that cannot go back to an
//! application, and the sign-out confirmation. Every value is escaped; the forms carry the
//! session's CSRF token and post to this server.

use crate::{
    api::link_page::{document, escape},
    domain::oidc::scope::{Scope, Scopes},
};

/// Hidden form fields for `params`.
fn hidden_fields(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

/// What the application receives with `scope`, in the words of the person asked; `None` for
/// what needs no saying (`openid` is signing in itself).
fn what_it_gets(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::OpenId => None,
        Scope::Profile => Some("your name, your primary address and your wallets' addresses"),
        Scope::Email => Some("your email address"),
        Scope::Wallets => Some("your wallets' addresses"),
        Scope::OfflineAccess => Some("to stay signed in while you are away (offline access)"),
    }
}

/// The consent page: which application, what it gets, Allow and Deny.
pub fn consent(
    app_name: &str,
    account_name: &str,
    scopes: &Scopes,
    params: &[(&str, String)],
    csrf: &str,
) -> String {
    let items: String = scopes
        .iter()
        .filter_map(what_it_gets)
        .map(|what| format!("<li>{}</li>\n", escape(what)))
        .collect();
    let list = if items.is_empty() {
        "<p>It will only learn that you signed in (an identifier for you, not your address).</p>"
            .to_string()
    } else {
        format!("<p>It will receive:</p>\n<ul data-testid=\"consent-scopes\">\n{items}</ul>")
    };
    let body = format!(
        "<section class=\"card\">\n\
         <p><strong data-testid=\"consent-app\">{app}</strong> wants to sign you in with your \
         account <strong>{account}</strong>.</p>\n{list}\n\
         <form method=\"post\" action=\"/oidc/consent\">\n{fields}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></div>\n\
         </form>\n\
         <p class=\"muted\">You can disconnect it later on your account page.</p>\n</section>",
        app = escape(app_name),
        account = escape(account_name),
        fields = hidden_fields(params),
        csrf = escape(csrf),
    );
    document(&format!("Sign in to {app_name}"), &body)
}

/// A request that cannot be answered to an application: said to the person.
pub fn error(message: &str) -> String {
    let body = format!(
        "<div class=\"notice error\" role=\"alert\" data-testid=\"oidc-error\">{}</div>\n\
         <p class=\"muted\">Go back to the application and try again, or \
         <a href=\"/account\">open your account</a>.</p>",
        escape(message)
    );
    document("This sign-in cannot continue", &body)
}

/// The sign-out confirmation: a form that ends the session (GET changes nothing).
pub fn logout(
    server: &str,
    app_name: Option<&str>,
    params: &[(&str, String)],
    csrf: &str,
) -> String {
    let what = match app_name {
        Some(app) => format!(
            "Sign out of <strong>{}</strong> (and of <strong>{}</strong>)?",
            escape(server),
            escape(app)
        ),
        None => format!("Sign out of <strong>{}</strong>?", escape(server)),
    };
    let body = format!(
        "<section class=\"card\">\n<p>{what}</p>\n\
         <form method=\"post\" action=\"/oidc/logout\">\n{fields}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <div class=\"row\"><button type=\"submit\">Sign out</button></div>\n</form>\n</section>",
        fields = hidden_fields(params),
        csrf = escape(csrf),
    );
    document("Sign out", &body)
}

/// After signing out, when there is nowhere registered to go back to.
pub fn signed_out(server: &str) -> String {
    let body = format!(
        "<section class=\"card\">\n<p data-testid=\"signed-out\">You are signed out of \
         <strong>{}</strong>.</p>\n<p><a href=\"/login\">Sign in again</a></p>\n</section>",
        escape(server)
    );
    document("Signed out", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        let scopes = Scopes::parse_known("openid email");
        let page = consent(
            "<script>x</script>",
            "me\"",
            &scopes,
            &[("state", "\"><img src=x>".into())],
            "c\"",
        );
        assert!(!page.contains("<script>x"));
        assert!(!page.contains("\"><img"));
        assert!(page.contains("your email address"));
        assert!(page.contains("value=\"allow\"") && page.contains("value=\"deny\""));
        assert!(!error("<b>").contains("<b>"));
        assert!(!logout("s", Some("<i>"), &[], "c").contains("<i>"));
    }
}
