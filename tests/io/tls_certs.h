/* SPDX-License-Identifier: MIT */
/* Test certificates, made at run time with OpenSSL's API (no key is ever committed) in a
 * fresh temporary directory: a CA, a server certificate it signed, and a self-signed one,
 * both for DNS "localhost" and IP 127.0.0.1.  P-256 keys: quick to make, also under
 * valgrind.
 *
 *   certs_make(&c)   writes ca.pem, server.pem + server.key, self.pem + self.key;
 *                    returns 0, or -1 (with a message on stderr);
 *   certs_remove(&c) removes the files and the directory.
 */
#ifndef GREEN_TEST_TLS_CERTS_H
#define GREEN_TEST_TLS_CERTS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct certs {
    char dir[256];
    char ca[300], server[300], server_key[300], self[300], self_key[300];
};

static inline int cert_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A certificate for key, signed by signer as issuer (NULL: self-signed). */
static inline X509 *cert_new(EVP_PKEY *key, const char *cn, bool ca, X509 *issuer, EVP_PKEY *signer)
{
    static long serial = 1;
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    int rc = cert_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca)
        rc |= cert_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    else
        rc |= cert_ext(x, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    if (rc != 0 || !X509_sign(x, signer ? signer : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static inline int cert_write(const char *path, X509 *x, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static inline int certs_make(struct certs *c)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/green-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->dir)) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(c->ca, sizeof c->ca, "%s/ca.pem", c->dir);
    snprintf(c->server, sizeof c->server, "%s/server.pem", c->dir);
    snprintf(c->server_key, sizeof c->server_key, "%s/server.key", c->dir);
    snprintf(c->self, sizeof c->self, "%s/self.pem", c->dir);
    snprintf(c->self_key, sizeof c->self_key, "%s/self.key", c->dir);
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256");
    EVP_PKEY *self_key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *srv = NULL, *self = NULL;
    int rc = -1;
    if (ca_key && srv_key && self_key &&
        (ca = cert_new(ca_key, "libgreen test CA", true, NULL, NULL)) &&
        (srv = cert_new(srv_key, "localhost", false, ca, ca_key)) &&
        (self = cert_new(self_key, "localhost", false, NULL, NULL)))
        rc = cert_write(c->ca, ca, NULL) | cert_write(c->server, srv, NULL) |
             cert_write(c->server_key, NULL, srv_key) | cert_write(c->self, self, NULL) |
             cert_write(c->self_key, NULL, self_key);
    if (rc != 0)
        fprintf(stderr, "certs_make: cannot make the test certificates in %s\n", c->dir);
    X509_free(ca);
    X509_free(srv);
    X509_free(self);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(self_key);
    return rc;
}

static inline void certs_remove(const struct certs *c)
{
    const char *files[] = {c->ca, c->server, c->server_key, c->self, c->self_key};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        unlink(files[i]);
    rmdir(c->dir);
}

#endif /* GREEN_TEST_TLS_CERTS_H */
