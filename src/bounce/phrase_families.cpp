// phrase_families.cpp - step d of Classify: phrase families, the many ways mail systems word one cause.
// Each family is a set of patterns over normalized text (lowercase, one space; '*' matches any run of
// characters), written from the wording of the mail systems themselves (Postfix, Exim, Sendmail, qmail,
// Exchange, Domino, webmail providers and gateways, in English and in the local languages that gateways
// answer in) and from RFC 3463's descriptions of each status; never copied from one bounce. The reason
// each family names, and their precedence, follow sisimai's definitions (https://libsisimai.org/en/reason/);
// many wordings were gathered by sisimai's reason lists across many mail systems (sisimai, BSD 2-Clause
// licence, https://github.com/sisimai), and are marked so where they are added.
// SECURITY: the text comes from remote servers; it is only searched, never interpreted.
#include <array>
#include <cctype>

#include "bounce/classify_steps.hpp"

namespace kurier::bounce::steps {

namespace {

using Phrases = std::initializer_list<std::string_view>;

// The first pattern of `phrases` that occurs in `text`, or "" when none does.
std::string_view FirstOf(std::string_view text, Phrases phrases) {
  for (std::string_view p : phrases)
    if (Matches(text, p)) return p;
  return {};
}

bool AnyOf(std::string_view text, Phrases phrases) { return !FirstOf(text, phrases).empty(); }

// ---- phrase families (lowercase, white space collapsed) -------------------------------------------

const Phrases kMailboxFull = {
    "mailbox full", "mailbox is full", "mailbox has exceeded", "mailbox quota",
    "mailbox exceeds allowed size", "mailbox would exceed", "mailbox exceeded", "mailbox size limit exceeded", "mailfolder is full",
    "full mailbox", "inbox is full", "inbox is out of storage", "account is full", "over quota",
    "overquota", "over the allowed quota", "quota exceeded", "quota exceed", "exceeded its quota",
    "exceeding its mailbox quota", "exceeding their quota", "exceeding receiving limits", "quota violation",
    "disk quota", "userdisk quota", "domaindisk quota", "reached disk quota", "insufficient disk space",
    "not enough storage space", "does not have enough space", "exceeded storage allocation",
    "space has been used up", "too many messages on the server", "too much mail data",
    "storage limit", "out of storage space", "boite du destinataire pleine", "destinataire pleine",
    "mailbox size exceeds", "mail file size exceeds the maximum size allowed",
    "no space left on device", "not sufficient disk space", "not enough disk space", "diskspace quota",
    "exceeded quota", "over the quota", "account is * quota", "mailbox * exceeded * limit", "maildir * quota",
};
const Phrases kSystemFull = {
    "mail system full", "insufficient system storage",
    // qmail: the server's disk, not the mailbox ("mailbox unavailable (not enough free space)").
    "mailbox unavailable (not enough free space)",
};
const Phrases kSenderQuota = {"sending quota exceeded", "sending limit exceeded", "sending quota reached"};
// The recipient's (or its mailbox's) own limit, below the system's: RFC 3463 X.2.3.
const Phrases kExceedLimit = {
    "exceeds limit set by recipient", "recipsizelimit", "message header size exceeds limit",
    "maximum size the user accepts",  // qmail-ldap: the recipient's own size limit
};
const Phrases kMesgTooBig = {
    "message too big", "message is too big", "message too large for this ", "message length exceeds",
    "message file too big", "size limit",
    "message size exceeds", "size of the message exceeds", "message exceeds the maximum size",
    "exceeds the maximum message size", "max message size exceeded", "maximum message size",
    "exceeded maximum inbound message size", "message size limit", "exceeded google's message size",
    "message exceeds size limit", "size limit exceeded", "line limit exceeded", "line too long",
    "taille limite du message",
};
const Phrases kSuspend = {
    " is currently suspended", "account has been suspended", "account is suspended", "account suspended",
    "mailbox currently suspended", "mailbox is suspended", "user suspended", "recipient suspend",
    "account has been disabled", "account is disabled", "account disabled", "account is deactivated",
    "deactivated mailbox", "mailbox is disabled", "mailbox disabled", "this mailbox is disabled",
    "user account disabled", "disabled recipient", "recipient account is blocked", "account is blocked",
    "account that you tried to reach is disabled", "account that you tried to reach is inactive",
    "mailbox is frozen", "account is frozen", "invalid/inactive user", "temporarily inactive",
    "disabled or discontinued", "account is locked", "account locked", " temporary locked",
    "boite du destinataire archivee", "archived recipient", "compte du destinataire est bloque",
    "account is inactive", "inactive account", "this address no longer accepts mail",
    // qmail-ldap ("Mailaddress is administrativly disabled", spelled several ways), au's EZweb.
    "mailaddress is administrativ", "account is temporarily limited",
    "has been suspended", "user is terminated", "user or domain is disabled", "mailbox unavailable or access denied",
};
const Phrases kHasMoved = {" has been replaced by ", "mailbox has moved", "user has moved"};
const Phrases kNoRelaying = {
    "relay access denied", "relaying denied", "relay denied", "relay not permitted", "relay not allowed",
    "relaying not allowed", "not allowed to relay", "not permitted to relay", "unable to relay",
    "we do not relay", "relay access not permitted", "mail relay denied", "no relaying", "insecure mail relay",
    "invalid credentials for relay", "identities failed the check", "email address is not verified",
    "as a relay", "not an open relay", "relaying mail to ", "specified domain is not allowed",
    "that domain isn't in my list of allowed rcpthost", "not configured to relay mail", "we don't handle mail for",
    "requires authentication when attempting to send to a non-local",
    "due to the following smtp relay error",  // KDDI's notices
};
const Phrases kAuthFailure = {
    "dmarc policy", "dmarc verification", "dmarc check", "dmarc authentication", "dmarc rejection",
    "dmarcrejection", "due to domain's dmarc", "owner dmarc", "spf check: fail", "spf fail", "spf check failed",
    "spf validation", "spf authentication", "failed spf", "sender policy framework", "spf record",
    "spf (sender policy framework)", "//spf.pobox.com", "spf/dns",
    "is not allowed to send from <", "multiple authentication checks failed", "fails to pass authentication",
    "fails to pass spf", "senders to authenticate", "must pass either spf or dkim", "dkim does not pass",
    "dkim signature", "dkim check", "unauthenticated email from", "required authentication level",
    "inspect your spf settings",
};
const Phrases kBadReputation = {
    "low reputation", "poor reputation", "deferred due to unexpected volume or user complaints", "bad reputation", "poor email reputation",
    "reputation of the sending", "due to ip reputation", "ip reputation", "sender reputation",
    "reputation problems", "reputation score",
};
const Phrases kRequirePtr = {
    "ptr record", "reverse dns", "rdns", "reverse lookup", "reverse-lookup", "ip name lookup failed",
    "cannot find your hostname", "cannot resolve your address", "unresolvable relay host name",
    "mismatches client ip", "generic dns ptr", "unverifyable sending ip",
    "unverifiable sending ip", "no ptr", "dns ptr", "ptr-record", "ptr lookup",
    "forward dns entry does not point to the sending ip", "dns lookup failure: * try again later",
};
const Phrases kNotCompliantRfc = {
    "not rfc 5322 compliant", "not rfc5322 compliant", "rfcmessagenoncompliant",
    "multiple addresses in from: header", "missing a valid address in the from: header",
    "missing a valid message-id", "encoded-word syntax is not permitted",
};
const Phrases kVirus = {
    "virus detected", "virus found", "infected with a virus", "contains a virus", "virus infected",
    "a virus was found", "malware detected", "malicious url", "potentially executable attachment",
    "used by recent viruses", "prohibited virus", "malicious_url detected",
};
const Phrases kSpam = {
    "spam detected", "detected as spam", "identified as spam", "classified as spam", "considered spam",
    "considered as spam", "scored as spam", "looks like spam", "looked like spam", "appears to be spam",
    "seems to be a spam", "seems to be spam", "rejected as spam", "spam content", "spam message",
    "spam score", "spamassassin", "spam filter", "spam-like", "spam classification", "spam rejected",
    "spam refused", "spam not accepted", "block for spam", "blocked as spam", "probable spam",
    "probability of spam", "message as spam", "likely unsolicited", "unsolicited mail", "unsolicited bulk",
    "appears to be unsolicited", "bulk mail", "bulk email", "bulk e-mail", "ube,", ", ube", "content rejected",
    "content filter rejection", "rejected due to spam", "blacklisted url", "uribl", "surbl",
    "banned content", "unacceptable content", "rejecting mail content", "mail content denied",
    "spambouncer", "spam-prefilter", "is spam", "triggered a spam", "spamprofiler", "sender domain listed at",
    " - spam", "help_spam_16.htm", "no spam please", "denied due to spam list", "may consider spam",
    "contains spam or virus", "possible spam/virus content", "our system has detected that this message is ",
    "reject bulk.advertising", "spam blocked", "spam check", "spam email", "spam rejection", "spamming not allowed",
    "too many spam complaints", "too much spam", "recurrent pattern detection system", "we dont accept spam",
    "similar to spam we have received", "probably spam", "temporarily blocked by our filter",
    "failed several antispam checks", "mail score (* over ", "percent probability of being spam",
    "rejected by * (spam)", "spam * exceeded", "scored * spam points",
};
// A policy of the receiving side named as such (the wordings sisimai's policyviolation family collects).
const Phrases kPolicy = {
    "protocol violation", "denied by policy", "local policy violation", "rejected due to local policy",
    "rejected for policy reasons", "not accepted for policy reasons", "organization policy", "organizational settings",
    "content presents a potential", "illegal attachment", "members-only list", "closed mailing list",
    "header are not accepted", "you're using a mass mailer", "not subscribed to this group", "given low priority",
    "recipient is not accepting mail with ", "messages with multiple addresses", "header error",
    "do not accept messages containing images or other attachments", "allowable number of posts without solving a captcha",
};
// Broader policy words: they name the cause only when no security or policy status (X.7) already does;
// under X.7 the status class says as much (securityerror), as the reference reads it.
const Phrases kPolicyBroad = {
    "policy violation", "local policy", "for policy reasons", "policy reasons", "message not allowed",
    "has a policy that prohibited",
};
const Phrases kTooManyConn = {
    "too many connections", "connection rate limit", "too many concurrent", "too many sessions",
    "too many smtp sessions", "frequency limited", "per-domain connection limit",
    "maximum connection limit", "too many recipients", "trop de connexions", "too many errors from your ip",
    "throttling failure", "max emails per hour", "numerous attempts to deliver this message",
    "message threshold exceeded",
};
const Phrases kSpeeding = {
    "please try again slower", "receiving mail at a rate", "receiving mail too quickly", "sending too fast",
    "relay limit exceeded", "rate limited", "sending quota exceeded", "sending limit exceeded",
};
const Phrases kBlocked = {
    "blocked using", "blacklisted", "blocklisted", "blacklist", "blocklist", "block list", "dnsbl",
    " rbl", "rbl reject", "spamhaus", "spamcop", "banned sending ip", "banned sender", "client host blocked",
    "client host rejected: may not be mail exchanger", "client host rejected: was not authenticated",
    "not currently accepting mail from your ip", "please use the smtp server of your isp",
    "rejecting open proxy", "blocked for abuse", "blocked by ldap", "your network is temporary",
    "messages from * weren't sent", "ip address blocked", "ip blocked", "blocked ip", "ip * is blocked",
    "ip * has been blocked", "mail server at * is blocked", "access from ip address * blocked", "connection refused by",
    "connection reset by peer", "connection dropped", "connection was dropped", "go away", "bloquee pour",
    "your ip address", "sending ip", "cloudmark", "(bl)", "customer block list", "rejected by recipient",
    "daily relay quota", "looks suspiciously like spammer", "confirm this mail server", "refused to talk to me",
    "server requires confirmation", "traffic not accepted from this ip", "permanently deferred",
    "helo command rejected", "my name was rejected", "not accepted from your ip", "dynamic ip",
    "no valid recipients from", "is not allowed to send mail from",
    // The client's address or name refused, in more servers' words (sisimai's blocked family).
    " said: 550 blocked", "blocked - see http", "refused - see http", "currently sending spam see:",
    "dynamic/zombied/spam ips blocked", "esmtp not accepting connections", "extreme bad ip profile",
    "host network not allowed", "invalid ip for sending mail of domain", "is in a black list",
    "no access from mail server", "sending mta or the sender has not passed validation", "sender ip address rejected",
    "server access forbidden by your ip", "smtp error from remote mail server after initial connection",
    "too many spams from your ip", "unwanted messages have been sent from the following ip", "was blocked by ",
    "you are not allowed to connect", "you are sending spam", "barracudacentral.org", "server ip * listed as abusive",
    "your access ip* has been rejected", "ip address is listed at",
};
// An IP refused for the rate of mail it sends, whatever the wording says about spam.
const Phrases kRateBlocked = {"unusual rate of unsolicited mail", "unusual rate of mail", "bad sender ip address"};
const Phrases kRejected = {
    "sender rejected", "sender address rejected", "sender verify failed", "sender verification failed",
    "domain of sender address", "sender domain", "unroutable sender", "invalid sender", "bad sender",
    "sender not pre-approved", "mail from not owned", "from: domain is invalid", "returned mail not accepted",
    "null sender is not allowed", "empty envelope sender", "batv", "backscatter", "sender is spammer",
    "address that has been blacklisted", "purported responsible address", "emetteur invalide",
    "does not exist e2110", "mail sending denied", "unauthenticated email is not accepted",
    "envelope blocked", "no third-party dsns", "bogus mail from", "administrative prohibition",
    "fully qualified email address required", "<> invalid sender", "sender email address rejected",
    "connections not accepted from servers without a valid sender domain",
    "not have permission to post messages to the group", "groups.google.com/support", "sender was rejected",
    "sender blacklisted", "sender address has been blacklisted", "email address has been blacklisted",
    "invalid domain, see", "delivery not authorized, message refused", "does not accept mail from",
    // fml mailing lists refusing a poster who is not a member.
    "not member article from", "you are not a member of this mailing list", "reject spammers:",
    "header may cause mail loop",
    // The sender refused, in more servers' and list managers' words (sisimai's rejected family).
    "access denied (in reply to mail from command)", "isn't on the recipient's list of senders",
    "denied [bouncedeny]", "valid-address-filter", "senderfilterconfig", "is not a registered gateway user",
    "recursive cname records for", "rule imposed mailbox access for", "from a different address or alias",
    "sender is in my black list", "spam reporting address", "syntax error: empty email address",
    "not allowed to post to this mailing list", "to submit messages to this e-mail system has been rejected",
};
// Exim's address parser (parse.c): the address could not be read at all, RFC 5321 4.1.2 syntax.
const Phrases kSyntaxError = {
    "malformed address:", "angle-brackets nested too deep", "expected word or \"<\"",
    "domain missing in source-routed address",
};
const Phrases kUserUnknown = {
    "user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient",
    "no such person", "no such address", "user not found", "recipient not found", "mailbox not found",
    "mailbox unavailable", "mailbox is unavailable", "mailbox unavaiable", "mailbox does not exist",
    "mailbox not present", "mailbox invalid", "invalid mailbox", "address does not exist",
    "recipient does not exist", "user does not exist", "user doesn't exist", "account does not exist",
    "recipient not exist", "user not exist", "invalid recipient", "invalid address", "address invalid",
    "unknown recipient", "recipient unknown", "unknown address", "address unknown", "addressee unknown",
    "unknown local part", "unknown local-part", "not a valid mailbox", "not a valid recipient",
    "not a valid user", "no mailbox", "not a known user", "is not a known user", "no account by that name",
    "illegal user", "doesn't have a * account", "recipnotfound", "recipientnotfound", "recipient rejected",
    "recipient address rejected: access denied", "recipient not ok", "recipient is not local",
    "not listed in", "destinataire invalide", "utilisateur inconnu", "inactive email address",
    "no valid recipients", "the recipient name is not recognized", "recipient name is not recognized",
    "bad destination mailbox address", "mailbox is inactive", "no one at this address",
    "address wasn't found", "address you entered couldn't be found", "email address could not be found",
    "account that you tried to reach does not exist", "email account does not exist",
    "email address does not exist", "is not an active address", "not our customer", "badrcptto",
    "validrcptto", "mailbox not available", "no such local user", "unknown mailbox",
    "recipient address does not exist", "nessun utente", "no existe", "does not exist in this domain",
    "not a local address", "user missing home directory", "resolver.adr.recipient",
    "check if address is correct",
    // More MTAs' and gateways' words (qmail's badrcptto/validrcptto patches, vpopmail, GMX and web.de,
    // directory lookups), as collected in sisimai's userunknown family (libsisimai.org/en/reason).
    "address not present in directory", "can't accept user", "destination addresses were unknown",
    "destination server rejected recipients", "no mail box available for this user",
    "recipient address rejected: userunknown", "recipient is not accepted", "recipient refuses to accept your mail",
    "envelope recipient has been denied", "domain or user isn't in my list of allowed rcpthosts",
    "email name is not found", "wrong or no longer valid", "badrecipientto", "user not active", "user not known",
    "invalid or unknown virtual user", "weil die adresse nicht gefunden wurde", "#5.1.1 bad address",
    "account * does not exist at the organization", "mailbox * does not exist", "non-existent user",
    "nonexistent user", "rcpt <* does not exist", "recipient * was not found in", "unknown email address",
    "unknown e-mail address", "unknown localpart", "user * was not found", "user * does not exist", "user (*) unknown",
};
// Wording that names a missing mailbox even when the server only said so after DATA.
const Phrases kUserUnknownAlways = {
    "doesn't have a * account", "account that you tried to reach does not exist", "recipnotfound",
    "recipientnotfound", "resolver.adr.recip", "ディレクトリのリストにありません", "ディレクトリには見つかりません",
    "not listed in public name & address book", "not listed in domino directory",
    // Domino in Spanish and French, IMail, Google Workspace's own notice.
    "no se encuentra en el directorio de domino", "dans l'annuaire domino", "invalid final delivery userid",
    "because the address couldn't be found",
};
const Phrases kFiltered = {
    "refused due to recipient preferences", "only accepting mail from", "user reject", "blocked by the recipient",
    "is not accepting any mail", "refuse to receive mail", "restricted sms e-mail",
    "extended inactivity new mail is not currently being accepted", "this account is protected by",
    "domain filter", "rejected by the recipient's filter", "resolver.rst.",
    "cannot route mail to user",  // Domino: the recipient's routing refuses this mail
    "account is protected by", "bounced address", "message rejected due to user rules", "not found recipient account",
    "user refuses to receive this mail",
};
const Phrases kHostUnknown = {
    "host unknown", "unknown host", "host or domain name not found", "domain does not exist",
    "domain doesn't exist", "no such domain", "name or service not known", "unrouteable address",
    "unroutable address", "domain is not reachable", "domain must exist", "invalid domain",
    "mail domain mentioned in email address is unknown", "unknown domain", "domain not found",
    "account or domain may not exist", "mx records point to non-existent hosts",
    "all host address lookups failed permanently", "host * not found", "bad destination system address",
    "no route to domain",
};
const Phrases kNotAccept = {
    "does not accept mail", "doesn't receive email", "null mx", "no mx record found",
    "smtp protocol returned a permanent error", "indicated no smtp service", "does not accept email",
    "not accepting network messages", "no mx found for domain",
    // qmail (notqmail, RFC 7505 null MX) "couldn't find a mail exchanger or IP address"; Exim "no host found
    // for existing SMTP connection"; OpenSMTPD "No MX found for destination", "Destination seem to reject all
    // mails": the domain exists but takes no mail.
    "couldn't find a mail exchanger", "no host found for existing smtp connection", "no mx found for destination",
    "seem to reject all mails", "mail receiving disabled", "name server: .: host not found",
    "no route for current request",
};
const Phrases kNetworkError = {
    "no route to host", "network is unreachable", "host not found, try again", "too many hops", "mail loop",
    "routing loop", "hop count exceeded", "message looping", "message is looping", "forwarding loop",
    "lost connection with", "dns error", "could not connect and send the mail",
    "dns records for the destination computer could not be found", "unable to resolve route",
    "network error", "wasn't able to establish an smtp connection", "temporary failure in name resolution",
    "malformed name server reply", "unrouteable mail domain", "message exceeded 50 hops",
    // Notes, qmail (an MX pointing back at itself), OpenSMTPD's routing failures, Courier.
    "exceeded maximum hop count", "listed as a best-preference mx", "address family mismatch on destination",
    "all routes to destination blocked", "bad dns lookup error code", "could not retrieve source address",
    "network error on destination mxs", "no valid route to", "temporary failure in mx lookup", "dns lookup failed",
    "host name lookup failure",
};
const Phrases kContentError = {
    "duplicate header", "header size exceeds", "too many received:", "8-bit data in message header", "8bit data in message header",
    "mime complexity", "invalid mime", "improperly-formatted", "unnecessary base64", "media error",
    "too many \"received\" headers", "too many received headers", "mail message is malformed",
    "message header size", "invalid characters", "bare line feed",
};
const Phrases kMailerError = {
    "procmail", "maildrop", "command failed", "command died with status", "command output", "mailer error",
    "pipe to |", "x-unix;", " || exit ",
};
// Weak families: consulted only when neither a specific status code nor a strong phrase decided.
const Phrases kExpired = {
    "delivery time expired", "message expired", "queue.expired", "envelope expired", "queue too long",
    "giving up", "retry timeout exceeded", "retry time not reached", "could not be delivered for",
    "could not deliver for the last", "not delivered within", "unable to deliver in", "allowed queue period",
    "cannot send message for", "delivery failed * attempts", "after multiple retries",
    "could not find a gateway", "is not responding", "server did not respond", "did not accept our requests to connect",
    "host not reachable", "connection timed out", "timed out", "operation timed out", "no answer from host",
    "message timed out", "delivery timeout", "has not been collected", "will be deleted from queue",
    "has been failing for a long time",
    // Exim ("all hosts ... have been failing for a long time"), Postfix ("delivery temporarily suspended"
    // until the queue lifetime ends), Sendmail ("Cannot send message for 5 days"), Exchange ("message
    // expired"), qmail ("I'm not going to try again; this message has been in the queue too long").
    "been failing for a long time", "in the queue too long", "too long in the queue", "retry time exceeded",
    "delivery attempts exhausted", "maximum number of delivery attempts", "maximum queue time", "queue lifetime",
    "delivery period expired", "delivery time exceeded", "could not be delivered within",
    // Exim's delay warnings and frozen messages, Amazon SES, Gmail's older notices ("could not contact DNS
    // servers" and delays: the message waited, no answer came).
    "has been frozen", "was frozen on arrival", "delay reason:", "delivery expired", "could not contact dns servers",
    "has been delayed", "failed to deliver to domain ", "delivery attempts will continue to be",
};
const Phrases kSystemError = {
    "system error", "internal error", "local error in processing", "temporary local problem",
    "configuration error", "config error", "service currently unavailable", "transaction failed",
    "loops back to myself", "aliasing/forwarding loop", "create a mail loop", "loop was found",
    "can't create user output file", "timeout waiting for input", "interrupted system call", "unable to connect * daemon",
    "queue file write error", "unable to contact ldap server", "duplicated message-id", "remote server is misconfigured",
    "temporary system problem", "could not load drd", "there is no mdb", "encountered an error while being processed",
    // Exim's local transports and LMTP, Domino's directory, Courier's DNS check, qmail and qmail-ldap's
    // local helpers, fml's loop detection: the receiving system failed, not the address.
    "delivery to file forbidden", "delivery to pipe forbidden", "local delivery failed", "lmtp error after",
    "several matches found in domino directory", "dns violates rfc 1035", "bad interpreter: no such file",
    "automatic homedir creat", "illegal value in ldap attribute", "ldap attribute is not given",
    "timeout while performing search on ldap", "too many results returned but needs to be unique",
    "error while executing qmail-forward", "temporary failure in ldap lookup", "unable to login into ldap server",
    "has detected a loop condition", "loop back warning",
    "internal server error", "service refuse", "server busy",
};
// The receiving side requires TLS the sender did not offer (sisimai's failedstarttls wordings).
const Phrases kFailedStartTls = {"starttls is required to send mail", "tls required but not supported"};
const Phrases kSecurityError = {
    "authentication required", "authentication failure", "authentication failed", "smtp authentication",
    "unauthenticated senders not allowed", "tls required", "encryption required", "must issue a starttls",
    "not authorized to perform ses:", "account not subscribed to ses", "delivery not authorized",
    "could not retrieve credentials", "security alert",  // OpenSMTPD's relay credentials; fml
    "authentication credentials invalid", "authentication is required", "is a dead domain",
    "authentification requise", "authentification invalide", "you don't authenticate", "verification failure",
    "executable files are not allowed", "authentication turned on", "password",
};


// "No such user" in the local words of gateways and webmail systems (German, French, Spanish, Italian,
// Portuguese, Dutch, Polish, Czech, Russian, Japanese, Chinese, Korean). Accents are written both with and
// without, as gateways often strip them.
// More English wordings of "no such user" from MTAs and webmail systems (RFC 3463 X.1.1 "bad destination
// mailbox address" in their own words).
const Phrases kUserUnknownMore = {
    "invalid user", "user invalid", "no such account", "unknown account", "account unknown", "mailbox unknown",
    "unknown or illegal alias", "no such alias", "not a valid email address", "no longer a valid address",
    "address is no longer valid", "this account does not exist", "does not have an account here",
    "no mailbox by that name", "user does not have a mailbox", "mailbox name not allowed",
};
const Phrases kUserUnknownLocal = {
    // German
    "benutzer unbekannt", "unbekannter benutzer", "empfänger unbekannt", "empfanger unbekannt",
    "unbekannter empfänger", "unbekannter empfanger", "adresse unbekannt", "postfach unbekannt",
    "postfach existiert nicht", "postfach nicht vorhanden", "konto existiert nicht", "benutzer existiert nicht",
    "empfängeradresse existiert nicht", "ungültiger empfänger", "ungultiger empfanger", "kein postfach",
    // French
    "destinataire inconnu", "adresse inconnue", "adresse inexistante", "boite aux lettres inexistante",
    "boîte aux lettres inexistante", "compte inexistant", "utilisateur inexistant", "destinataire inexistant",
    "cette adresse n'existe pas", "adresse email invalide", "adresse e-mail invalide",
    // Spanish
    "usuario desconocido", "destinatario desconocido", "usuario inexistente", "usuario no existe",
    "buzón no existe", "buzon no existe", "buzón inexistente", "buzon inexistente", "cuenta no existe",
    "cuenta inexistente", "dirección inexistente", "direccion inexistente",
    // Italian
    "utente sconosciuto", "utente inesistente", "casella inesistente", "indirizzo inesistente",
    "destinatario sconosciuto", "utente non esiste", "casella non esiste",
    // Portuguese
    "usuário desconhecido", "usuario desconhecido", "utilizador desconhecido", "conta inexistente",
    "destinatário desconhecido", "destinatario desconhecido", "caixa postal inexistente", "usuário inexistente",
    // Dutch
    "onbekende gebruiker", "gebruiker onbekend", "onbekende ontvanger", "adres bestaat niet",
    "mailbox bestaat niet", "gebruiker bestaat niet",
    // Polish and Czech
    "nieznany użytkownik", "nieznany uzytkownik", "użytkownik nie istnieje", "uzytkownik nie istnieje",
    "skrzynka nie istnieje", "konto nie istnieje", "adres nie istnieje", "nieznany odbiorca",
    "brak takiego użytkownika", "brak takiego uzytkownika", "neznámý uživatel", "neznamy uzivatel",
    "schránka neexistuje", "schranka neexistuje",
    // Russian
    "пользователь не существует", "нет такого пользователя", "неизвестный пользователь",
    "адрес не существует", "ящик не существует", "пользователь не найден",
    // Japanese, Chinese, Korean
    "存在しないユーザ", "ユーザが存在しません", "ユーザーが存在しません", "宛先が存在しません",
    "アドレスは存在しません", "該当するユーザ", "宛先不明", "用户不存在", "收件人不存在", "邮箱不存在",
    "사용자가 존재하지 않습니다", "존재하지 않는 사용자",
};
const Phrases kMailboxFullLocal = {
    "postfach voll", "postfach ist voll", "speicherplatz überschritten", "boîte pleine", "boite pleine",
    "boîte aux lettres pleine", "boite aux lettres pleine", "buzón lleno", "buzon lleno", "buzón está lleno",
    "casella piena", "casella di posta piena", "caixa postal cheia", "caixa de correio cheia",
    "mailbox is vol", "skrzynka pełna", "skrzynka jest pełna", "skrzynka przepełniona",
    "ящик переполнен", "メールボックスがいっぱい", "容量オーバー", "容量を超え", "邮箱已满", "邮箱空间不足",
};
const Phrases kMesgTooBigLocal = {
    "nachricht zu groß", "nachricht ist zu groß", "nachricht zu gross", "message trop volumineux",
    "message trop gros", "taille du message", "mensaje demasiado grande", "messaggio troppo grande",
    "mensagem muito grande", "wiadomość jest za duża", "wiadomosc jest za duza", "сообщение слишком велико",
    "サイズが大きすぎ", "メールサイズ",
};
// Postfix's "Recipient address rejected: <why>", Exim's "recipient verify failed", and the same in other
// MTAs: the recipient was refused because it could not be verified. The specific <why> ("User unknown",
// "Domain not found", "Mailbox is full", "Policy") is read by the families above; these are the forms
// whose <why> says the address is not there.
const Phrases kRecipientUnverified = {
    "recipient address rejected: undeliverable address", "recipient address rejected: unverified address",
    "recipient verify failed", "recipient verification failed", "rcpt verification failed",
    "could not verify recipient", "address verification failed", "callout verification failure",
    "no valid recipient", "recipient address rejected: invalid", "recipient address rejected: unknown",
    "recipient address rejected: not found", "recipient address rejected: no such",
    "recipient address rejected: does not exist",
};
// A network or name service failure that says nothing about the domain's existence (a lookup that timed
// out or came back SERVFAIL, a refused or reset connection, no route): networkerror, never hostunknown.
const Phrases kNetworkWords = {
    "host not found, try again", "temporary failure in name resolution",
    "name server timeout", "dns lookup timed out", "dns timeout", "servfail", "dns server failure",
    "connection refused", "no route to host", "network is unreachable", "host is unreachable",
    "could not connect", "failed to connect", "unable to connect", "connect to * timed out",
    "lookup of * failed", "name service error * try again", "lookup failed",
};
// The domain itself does not exist (NXDOMAIN, "Host or domain name not found" without "try again").
const Phrases kDomainMissing = {
    "host or domain name not found", "nxdomain", "non-existent domain", "nonexistent domain",
    "non existent domain", "domain does not exist", "domain doesn't exist", "domain not found", "no such domain",
    "name or service not known", "unknown domain", "couldn't find any host named", "couldn't find any host by that name",
    "dns.nonexistentdomain", "domain name not found", "no such host",
    // Oracle Messaging Server, KDDI ("doesnt" as they write it), Gmail's older "DNS Error" notices (an
    // answer with no data: the name has no address or MX record).
    "illegal host/domain name found", "remote domain doesnt exist", "dns server returned answer with no data",
};


// "550 : User unknown" - the reply hides the recipient's address. Japanese mobile carriers answer so when
// the recipient's own filter refused the sender, which sisimai calls "filtered".
bool AnonymousUserUnknown(std::string_view t) {
  for (std::size_t at = t.find(": user unknown"); at != std::string_view::npos;
       at = t.find(": user unknown", at + 1)) {
    std::size_t i = at;
    while (i > 0 && t[i - 1] == ' ') --i;
    if (i > 0 && t[i - 1] == ':') return true;
    if (i >= 3 && std::isdigit(static_cast<unsigned char>(t[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(t[i - 2])) && std::isdigit(static_cast<unsigned char>(t[i - 3])) &&
        (i == 3 || !std::isalnum(static_cast<unsigned char>(t[i - 4]))))
      return true;
  }
  return false;
}


// "553 mail.example.com does not exist": a domain name (not an address) said not to exist.
bool NamesMissingDomain(std::string_view t) {
  for (std::size_t at = t.find(" does not exist"); at != std::string_view::npos; at = t.find(" does not exist", at + 1)) {
    std::size_t b = at;
    while (b > 0 && t[b - 1] != ' ') --b;
    std::string_view word = t.substr(b, at - b);
    if (word.size() < 4 || word.find('.') == std::string_view::npos || word.find('@') != std::string_view::npos ||
        word.find('<') != std::string_view::npos || word.back() == '.')
      continue;
    bool hostname = true;
    for (char c : word)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) hostname = false;
    if (hostname && std::isalpha(static_cast<unsigned char>(word.back()))) return true;
  }
  return false;
}

}  // namespace

bool Matches(std::string_view text, std::string_view pattern) {
  std::size_t from = 0;
  while (true) {
    std::size_t star = pattern.find('*');
    std::string_view piece = pattern.substr(0, star);
    if (!piece.empty()) {
      std::size_t at = text.find(piece, from);
      if (at == std::string_view::npos) return false;
      from = at + piece.size();
    }
    if (star == std::string_view::npos) return true;
    pattern.remove_prefix(star + 1);
  }
}

namespace {

Verdict Family(std::string_view reason, std::string_view family, std::string_view phrase) {
  std::string rule = "phrase family " + std::string(family);
  if (!phrase.empty()) rule += " ('" + std::string(phrase) + "')";
  return Verdict{std::string(reason), rule};
}

// The families in the order they are tried: a narrower cause before a broader one (a full mailbox before
// "mailbox unavailable", a blocked IP before "user unknown" in the same reply, ...).
struct Entry {
  std::string_view reason, family;
  Phrases phrases;
};

}  // namespace

Verdict PhraseFamily(const Evidence& e) {
  const std::string_view t = e.text;
  const std::string by_status = StatusMeaning(e).reason;
  const bool before_data = e.BeforeData();
  std::string_view hit;
  auto says = [&](Phrases phrases) { return !(hit = FirstOf(t, phrases)).empty(); };

  // A full mailbox (X.2.2) outweighs every wording; a size status (X.3.4, X.2.3) every wording but a full
  // mailbox's: the reference tries these codes before any other cause.
  const Verdict status_first{by_status, "status " + e.status + " (RFC 3463), before any wording"};
  // A status that names its cause (anything but the reasons that are retried on the words: a system,
  // security, network, expiry or address status) leaves the broad families (policy, virus, network,
  // a domain taking no mail, a full system) no say, as in the reference's second pass.
  const bool status_names_cause = !by_status.empty() && by_status != "systemerror" && by_status != "securityerror" &&
                                  by_status != "networkerror" && by_status != "expired" && by_status != "hostunknown" &&
                                  by_status != "userunknown";
  if (by_status == "mailboxfull") return status_first;
  if (by_status == "mesgtoobig" || by_status == "exceedlimit")
    return says(kMailboxFull) || says(kMailboxFullLocal) ? Family("mailboxfull", "mailboxfull", hit) : status_first;
  if (!status_names_cause && says(kSystemFull)) return Family("systemfull", "systemfull", hit);
  if (says(kSyntaxError)) return Family("syntaxerror", "address syntax (RFC 5321 4.1.2)", hit);
  if (says(kSenderQuota)) return Family("speeding", "sender quota", hit);  // the sender's quota, not a mailbox
  if (says(kMailboxFull) || says(kMailboxFullLocal)) return Family("mailboxfull", "mailboxfull", hit);
  if (says(kExceedLimit)) return Family("exceedlimit", "exceedlimit", hit);
  if (says(kMesgTooBig) || says(kMesgTooBigLocal)) {
    return Family("mesgtoobig", "mesgtoobig", hit);
  }
  // A bare "message too large", said without naming the system's limit, is read as the recipient's limit
  // (sisimai's exceedlimit); a size status (X.2.3, X.3.4) has decided above.
  if (says({"message too large", "message is too large"})) return Family("exceedlimit", "exceedlimit", hit);
  if (e.reply == 525) return {"suspend", "reply 525 user account disabled (RFC 5248, X.7.13)"};
  if (says(kSuspend)) return Family("suspend", "suspend", hit);
  if (says(kHasMoved)) return Family("hasmoved", "hasmoved", hit);
  if (says(kNoRelaying)) return Family("norelaying", "norelaying", hit);
  // Under a status that names the recipient's address (X.1.0, X.1.1, X.1.3) only a narrower cause (the
  // families above), a block of the client, a domain that takes no mail or a refused sender outweighs it.
  if (by_status == "userunknown") {
    if (says(kAuthFailure)) return Family("authfailure", "authfailure", hit);
    if (says(kRateBlocked) || says(kBlocked)) return Family("blocked", "blocked (under " + e.status + ")", hit);
    if (says(kNotAccept)) return Family("notaccept", "notaccept", hit);
    if (e.command == "MAIL" && says(kRejected)) return Family("rejected", "rejected (sender)", hit);
    if (says(kUserUnknownAlways) || says(kUserUnknown) || says(kUserUnknownMore) || says(kUserUnknownLocal) ||
        says(kRecipientUnverified))
      return {"userunknown", "status " + e.status + " (RFC 3463) and phrase family userunknown ('" + std::string(hit) + "')"};
    return {};  // the status decides
  }
  if (says(kNotCompliantRfc)) return Family("notcompliantrfc", "notcompliantrfc", hit);
  if (says(kBadReputation)) return Family("badreputation", "badreputation", hit);
  if (!status_names_cause && says(kVirus)) return Family("virusdetected", "virusdetected", hit);
  if (says(kRateBlocked)) return Family("blocked", "rate of unsolicited mail", hit);
  if (says({"sender is spammer"})) return Family("rejected", "rejected (sender)", hit);
  if (!before_data && says(kSpam)) return Family("spamdetected", "spamdetected", hit);
  if (says(kAuthFailure)) return Family("authfailure", "authfailure", hit);
  if (says(kRequirePtr)) return Family("requireptr", "requireptr", hit);
  if (!status_names_cause && says(kPolicy)) return Family("policyviolation", "policyviolation", hit);
  if (!status_names_cause && !(e.code.valid() && e.code.subject == 7) && says(kPolicyBroad))
    return Family("policyviolation", "policyviolation", hit);
  if (says(kTooManyConn)) return Family("toomanyconn", "toomanyconn", hit);
  if (says(kSpeeding)) return Family("speeding", "speeding", hit);
  if (says(kContentError)) return Family("contenterror", "contenterror", hit);
  if (says({"does not accept mail from"})) return Family("rejected", "rejected (sender)", hit);
  if (!status_names_cause && says(kNotAccept)) return Family("notaccept", "notaccept", hit);
  // Words about the sender decide where the sender is what was judged: at MAIL FROM, after DATA, under
  // a sender status (X.1.7, X.1.8) or a status that names no other cause; a refusal that names the
  // recipient ("Recipient address rejected: ...") or a recipient status is read by those instead.
  const bool sender_judged = by_status == "rejected" || e.command == "MAIL" ||
                             (e.command == "DATA" && by_status != "userunknown") || by_status.empty() ||
                             by_status == "securityerror" || by_status == "systemerror";
  if (sender_judged && !AnyOf(t, {"recipient address rejected", "5.1.0 address rejected"}) && says(kRejected))
    return Family("rejected", "rejected (sender)", hit);
  if (e.command == "MAIL" && by_status != "userunknown" && says({"access denied"}))
    return Family("rejected", "refused at MAIL FROM", hit);
  // A name server that did not answer is a network problem, not a missing domain.
  if (says({"host not found, try again", "temporary failure in name resolution", "name service error * try again"}))
    return Family("networkerror", "name service did not answer", hit);
  if (says(kHostUnknown) || says(kDomainMissing)) return Family("hostunknown", "hostunknown", hit);
  if (NamesMissingDomain(t)) return Family("hostunknown", "hostunknown ('<domain> does not exist')", "");
  if (says(kBlocked)) return Family("blocked", "blocked", hit);
  // Spam words before the content was sent, with no sign that the client itself is held off (4.7.1,
  // 4.7.2, 4.2.1 or the block words above): the server judged the mail by its sender or envelope as spam.
  if (before_data && !(e.code.cls == 4 && ((e.code.subject == 7 && (e.code.detail == 1 || e.code.detail == 2)) ||
                                           (e.code.subject == 2 && e.code.detail == 1))) &&
      says(kSpam))
    return Family("spamdetected", "spamdetected (before DATA)", hit);
  // The recipient's own filter words count where a filter acts: under a mailbox-status code (X.2.0, X.2.1,
  // X.2.4, X.1.4) or after the envelope was accepted; a refusal at RCPT with such words is read by its code.
  if ((by_status == "filtered" || !before_data) && says(kFiltered)) return Family("filtered", "filtered", hit);
  if (AnonymousUserUnknown(t)) return Family("filtered", "filtered ('user unknown' without an address)", "");
  if (says(kUserUnknownAlways)) return Family("userunknown", "userunknown", hit);
  if (says(kUserUnknown) || says(kUserUnknownMore) || says(kUserUnknownLocal) || says(kRecipientUnverified)) {
    // Refused at MAIL FROM, or with a sender status (X.1.7, X.1.8): the unknown address is the sender.
    if (e.command == "MAIL" || by_status == "rejected") return Family("rejected", "userunknown words about the sender", hit);
    // A missing mailbox only where the words answer the recipient: refused at RCPT (under X.1.x the
    // status block above has decided). After DATA, or with neither a command nor an address status, it is
    // the recipient side's filter refusing this sender (sisimai: filtered); refused before RCPT, the
    // fallbacks read the command.
    if (e.command == "RCPT") return Family("userunknown", "userunknown", hit);
    if (e.BeforeData()) return {};
    return Family("filtered", "userunknown words, neither refused at RCPT nor under X.1.1", hit);
  }
  // A loop the receiving system broke itself is its own configuration error, not the network's.
  if (says({"aliasing/forwarding loop broken", "would create a mail loop"})) return Family("systemerror", "systemerror (local loop)", hit);
  // Gmail's older notices: no DNS server answered, so the message waited until it expired.
  if (says({"could not contact dns servers"})) return Family("expired", "expired (no DNS server answered)", hit);
  if (!status_names_cause && says(kNetworkError)) return Family("networkerror", "networkerror", hit);
  if (says(kMailerError)) return Family("mailererror", "mailererror", hit);
  return {};
}

Verdict WeakPhraseFamily(const Evidence& e) {
  const std::string_view t = e.text;
  std::string_view hit;
  auto says = [&](Phrases phrases) { return !(hit = FirstOf(t, phrases)).empty(); };
  if (says(kExpired)) return Family("expired", "expired", hit);
  if (says(kSystemError)) return Family("systemerror", "systemerror", hit);
  if (says(kFailedStartTls)) return Family("failedstarttls", "failedstarttls", hit);
  if (says(kSecurityError)) return Family("securityerror", "securityerror", hit);
  // Spam wording before the content was sent judges the client, not the message.
  if (e.BeforeData() && says(kSpam)) return Family("blocked", "spam words before DATA", hit);
  if (says(kNetworkWords)) return Family("networkerror", "network words", hit);
  return {};
}

bool Says(std::string_view reason, std::string_view t) {
  if (reason == "domainmissing") return AnyOf(t, kDomainMissing);
  if (reason == "networkerror") return AnyOf(t, kNetworkWords) || AnyOf(t, kNetworkError);
  return false;
}

}  // namespace kurier::bounce::steps
