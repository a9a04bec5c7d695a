//! The OpenID Connect provider's pages, rendered here in the person's language (no script: the
//! page policy allows none inline): the consent page, an error page for requests that cannot
//! go back to an application, and the sign-out confirmation. Every value is escaped; the forms
//! carry the session's CSRF token and post to this server.

use crate::{
    api::pages::PageContext,
    domain::oidc::scope::{Scope, Scopes},
    error::ErrorCode,
    i18n::escape,
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

/// The catalogue key of what the application receives with `scope`, in the words of the
/// person asked; `None` for what needs no saying (`openid` is signing in itself).
fn what_it_gets(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::OpenId => None,
        Scope::Profile => Some("oidc.scope_profile"),
        Scope::Email => Some("oidc.scope_email"),
        Scope::Wallets => Some("oidc.scope_wallets"),
        Scope::OfflineAccess => Some("oidc.scope_offline_access"),
    }
}

/// The consent page: which application, what it gets, Allow and Deny.
pub fn consent(
    page: &PageContext,
    app_name: &str,
    account_name: &str,
    scopes: &Scopes,
    params: &[(&str, String)],
    csrf: &str,
) -> String {
    let items: String = scopes
        .iter()
        .filter_map(what_it_gets)
        .map(|key| format!("<li>{}</li>\n", escape(&page.text(key))))
        .collect();
    let list = if items.is_empty() {
        format!("<p>{}</p>", escape(&page.text("oidc.consent_nothing")))
    } else {
        format!(
            "<p>{}</p>\n<ul data-testid=\"consent-scopes\">\n{items}</ul>",
            escape(&page.text("oidc.consent_receives"))
        )
    };
    let client = format!(
        "<strong data-testid=\"consent-app\">{}</strong>",
        escape(app_name)
    );
    let account = format!("<strong>{}</strong>", escape(account_name));
    let body = format!(
        "<section class=\"card\">\n<p>{asks}</p>\n{list}\n\
         <form method=\"post\" action=\"/oidc/consent\">\n{fields}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"allow\">{allow}</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">{deny}</button></div>\n\
         </form>\n\
         <p class=\"muted\">{later}</p>\n</section>",
        asks = page.markup(
            "oidc.consent_text",
            &[("client", &client), ("account", &account)]
        ),
        fields = hidden_fields(params),
        csrf = escape(csrf),
        allow = escape(&page.text("oidc.allow")),
        deny = escape(&page.text("oidc.deny")),
        later = escape(&page.text("oidc.consent_later")),
    );
    page.document(
        &page.text_with("oidc.consent_title", &[("client", app_name)]),
        &body,
    )
}

/// A request that cannot be answered to an application: said to the person.
pub fn error(page: &PageContext, code: ErrorCode, message: &str) -> String {
    let account = page.link("/account", "oidc.open_account");
    let next = page.markup("oidc.error_next", &[("account", &account)]);
    page.error_document("oidc", code, message, &next)
}

/// The sign-out confirmation: a form that ends the session (GET changes nothing).
pub fn logout(
    page: &PageContext,
    app_name: Option<&str>,
    params: &[(&str, String)],
    csrf: &str,
) -> String {
    let server = format!("<strong>{}</strong>", escape(page.server_name()));
    let what = match app_name {
        Some(app) => {
            let client = format!("<strong>{}</strong>", escape(app));
            page.markup(
                "oidc.logout_question_client",
                &[("server", &server), ("client", &client)],
            )
        }
        None => page.markup("oidc.logout_question", &[("server", &server)]),
    };
    let body = format!(
        "<section class=\"card\">\n<p>{what}</p>\n\
         <form method=\"post\" action=\"/oidc/logout\">\n{fields}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <div class=\"row\"><button type=\"submit\">{button}</button></div>\n</form>\n</section>",
        fields = hidden_fields(params),
        csrf = escape(csrf),
        button = escape(&page.text("oidc.logout_button")),
    );
    page.document(&page.text("oidc.logout_title"), &body)
}

/// After signing out, when there is nowhere registered to go back to.
pub fn signed_out(page: &PageContext) -> String {
    let server = format!("<strong>{}</strong>", escape(page.server_name()));
    let body = format!(
        "<section class=\"card\">\n<p data-testid=\"signed-out\">{what}</p>\n\
         <p>{again}</p>\n</section>",
        what = page.markup("oidc.signed_out_text", &[("server", &server)]),
        again = page.link("/login", "oidc.sign_in_again"),
    );
    page.document(&page.text("oidc.signed_out_title"), &body)
}
