#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* OpenSSL spells these as function-like macros, which Swift cannot call. */

static inline int dwcp_ssl_ctx_require_tls13(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
}

/* Partial writes and a moving buffer: a non-blocking SSL_write may return after some records
   and be retried from wherever the caller's remaining bytes are. */
static inline void dwcp_ssl_ctx_set_stream_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

static inline int dwcp_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
