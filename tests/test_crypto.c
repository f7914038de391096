/*
 * test_crypto.c - known-answer and negative tests of rsp_crypto.h.
 *
 * Vector sources (facts only, see spec-notes/crypto.md):
 *  [PYSIM-ECKA]  osmocom/pysim tests/unittests/test_esim.py, TestECKA.test_mode51
 *                (commit a3962b2076d157e075262c51e6c4d0a48ba12465)
 *  [PYSIM-BSP]   osmocom/pysim tests/unittests/test_esim_bsp.py, BSP_Test,
 *                BSP_Test_mode51, TestBSPdecode (same commit). mode51 was
 *                captured from a third-party SM-DP+; together with
 *                [PYSIM-ECKA] it is one P-256 chain ECKA -> KDF -> segments.
 *  [RFC7027]     RFC 7027 Appendix A.1, brainpoolP256r1 ECDH.
 *  [RFC6979]     RFC 6979 Appendix A.2.5, P-256, SHA-256, message "sample".
 *  [WYCHEPROOF]  C2SP/wycheproof testvectors_v1/
 *                ecdsa_brainpoolP256r1_sha256_p1363_test.json tcId 1, 2, 4, 11,
 *                20 (commit 2f387d269d960b389c0073b46acc1b5e84c71159).
 *  [SP800-38B]   NIST SP 800-38B Appendix D.1 (= RFC 4493 §4), AES-128 CMAC.
 *  [SGP.26]      ../shared/sgp26 test keys and certificates.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "rsp_bsp.h"
#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"

/* ---- helpers ------------------------------------------------------------- */

/* Decode trusted hex into out; returns the length. */
static size_t hx(const char *hex, uint8_t *out, size_t max)
{
    int n = rsp_hex_decode(hex, strlen(hex), out, max);
    if (n < 0) {
        fprintf(stderr, "bad test hex: %.40s...\n", hex);
        abort();
    }
    return (size_t)n;
}

static uint8_t *read_shared(const char *rel, size_t *len)
{
    char path[512];
    uint8_t *p;

    snprintf(path, sizeof(path), "%s/%s", test_shared_dir(), rel);
    p = test_read_file(path, len);
    if (!p)
        fprintf(stderr, "\n  cannot read %s\n", path);
    return p;
}

static EVP_PKEY *load_sk(const char *rel)
{
    size_t len = 0;
    uint8_t *pem = read_shared(rel, &len);
    EVP_PKEY *k = NULL;

    if (pem)
        CU_ASSERT_RC(rsp_ec_key_from_pem(pem, len, &k), RSP_OK);
    free(pem);
    return k;
}

/* Public key of a DER certificate, re-imported through our point path. */
static EVP_PKEY *load_cert_pub(const char *rel, int curve)
{
    size_t len = 0;
    uint8_t *der = read_shared(rel, &len);
    const unsigned char *p = der;
    X509 *x = der ? d2i_X509(NULL, &p, (long)len) : NULL;
    EVP_PKEY *k = NULL;
    uint8_t pt[RSP_EC_POINT_LEN];
    int c = 0;

    CU_ASSERT_PTR_NOT_NULL(x);
    if (x) {
        CU_ASSERT_RC(rsp_ec_key_curve(X509_get0_pubkey(x), &c), RSP_OK);
        CU_ASSERT_EQUAL(c, curve);
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(X509_get0_pubkey(x), pt), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_from_point(curve, pt, sizeof(pt), &k), RSP_OK);
    }
    X509_free(x);
    free(der);
    return k;
}

static const uint8_t N_P256[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
    0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
};

/* ---- vectors --------------------------------------------------------------- */

/* [PYSIM-ECKA] */
#define M51_EUICC_OTPK \
    "0400f7b8d71403f21d84b00cd9e561178d737d3f4d065e62fee279271298dd4f07" \
    "4794ab791b9939d4461296efe388aa26731064263af988b7d2c4d77da44801b5"
#define M51_SMDP_OTPK \
    "04a27e2bdbd94dcf67d4c9ae5cb149d9d0f093be7a16dc41ec9db0318e4db72d09" \
    "234a7d7631979a5d150eec40afe17ce41673df9d2f2e4246d60051c74eba7964"
#define M51_SMDP_OTSK \
    "fb68a38ccedb69e15cbe03c256228998ac398587e5dc7117f948145c839d61a4"
#define M51_SHS \
    "c9a993dd4879a8f7161f2085410edd4f9652f1df37be097ba96ba2ca6be528fe"
/* [PYSIM-BSP] BSP_Test_mode51: KDF with keyType 88, keyLength 10,
 * hostId 80 80 80 80 80 80 80 80, EID below. */
#define M51_EID   "89049032123451234512345678901235"
#define M51_HOSTID "8080808080808080"
#define M51_MCV   "406d507b448a699e7a36a38494debbde"
#define M51_S_ENC "472f5bfadd97f21d34f3ce9b51b92751"
#define M51_S_MAC "9ec07f5b36a13e12a991d66e294e6242"
/* ConfigureISDP (87, encrypted), StoreMetadata (88, MAC only), another 87
 * (in pySim a ReplaceSessionKeys-shaped payload), in this order. */
#define M51_P1 "bf2400"
#define M51_W1 "8718f6fe031e4b9cfe87c8e1e62f3fde85c49412d7722a6a2d89"
#define M51_P2 \
    "bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f5445" \
    "53545f50524f46494c45950100"
#define M51_W2 \
    "8838bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f" \
    "544553545f50524f46494c459501008a62cc9adbb5ccbc"
#define M51_P3 \
    "bf26368010000102030405060708090a0b0c0d0e0f8110010102030405060708090a0b" \
    "0c0d0e0f8210020102030405060708090a0b0c0d0e0f"
#define M51_W3 \
    "8748a14c800a001992351cd46ad2945654674369701d82b7b46567652bc8fbed234939" \
    "fc57fba748015525fd6c651e9d3d1330652d42a0cfad950e912122af4ec5362d3c0bc5" \
    "35729c40"
/* Keys after ReplaceSessionKeys, and two full-size (1007-byte) profile
 * element segments protected with them. */
#define PPK_ENC "01010203040506070809" "0a0b0c0d0e0f"
#define PPK_MAC "02010203040506070809" "0a0b0c0d0e0f"
#define PPK_MCV "00010203040506070809" "0a0b0c0d0e0f"
static const char PPK_SEG0_PLAIN[] =
    "a048800102810101821a53494d616c6c69616e63652053616d706c652050726f66696c65"
    "830a89000123456789012341a506810084008b00a610060667810f010201060667810f01"
    "0204b08201f8a0058000810101810667810f010201a207a105c60301020aa305a1038b01"
    "0fa40c830a98001032547698103214a527a109820442210026800198831a61184f10a000"
    "0000871002ff33ff01890000010050045553494da682019ea10a8204422100258002022b"
    "831b8001019000800102a406830101950108800158a40683010a95010882010a83168001"
    "01a40683010195010880015aa40683010a95010882010f830b80015ba40683010a950108"
    "82011a830a800101900080015a970082011b8316800103a406830101950108800158a406"
    "83010a95010882010f8316800111a40683010195010880014aa40683010a95010882010f"
    "8321800103a406830101950108800158a40683010a950108840132a40683010195010882"
    "01048321800101a406830101950108800102a406830181950108800158a40683010a9501"
    "08820104831b800101900080011aa406830101950108800140a40683010a95010882010a"
    "8310800101900080015aa40683010a95010882011583158001019000800118a40683010a"
    "95010880014297008201108310800101a40683010195010880015a970082011583168001"
    "13a406830101950108800148a40683010a95010882010f830b80015ea40683010a950108"
    "82011a83258001019000800102a010a406830101950108a406830102950108800158a406"
    "83010a950108a33fa0058000810102a13630118001018108303030303030303082020099"
    "300d800102810831323334353637383012800200818108313233343536373882020088a2"
    "41a0058000810103a138a0363010800101810831323334ffffffff820101301080010281"
    "0830303030ffffffff820102301080010a810835363738ffffffff830101a182029ea005"
    "8000810104a18202933082028f62228202782183027ff18410a0000000871002ff33ff01"
    "89000001008b010ac60301810a62118202412183026f078b010280010988013881090829"
    "43019134876765621482044221002583026f068b010a8801b8c7022f06621a8202412183"
    "026f088b0105800121880140a507c00180c10207ff621a8202412183026f098b01058001"
    "21880148a507c00180c10207ff62168202412183026f318b0102800101880190a503c101"
    "0a62118202412183026f388b010280010e880120810d0a2e178ce7320400000000000062"
    "1982044221001a83026f3b8b0108800202088800a504c10200ff62198204422100b08302"
    "6f3c8b0105800206e08800a504c10200ff621282044221002683026f428b0105800126";

static const char PPK_SEG0_WIRE[] =
    "868203f80fd36b066b43e53906b33263c4141d18036fcac7bde47faed79e76514d39f1f4"
    "05d9785ff04badf379a96bcf4685eb861239da34eeb213d0cd1e0d85e96e36097a52f600"
    "907e08b6f01232eb3792a00cc6b3288cc832c7f30357edfe0818d1f39ad8d55b5bd5d9c6"
    "5917d0d16ee7e1421a44453714d66209bf441425bf6d153a85ba7e7406d58a4c46fb930b"
    "b14eefd6a853434619805429cbbb003bd5a56e7bceaf4666eb352ad46f47ea572c6ad311"
    "683803db3bec4d783583858f2ecfbaec3ed780fb3e3a645b1bf5cfd1047e5862c4a88773"
    "82dabd6aef6fa72ec6378ce7b21502d3267514b29bd589703ee7bd5b1e6d868b6b7c5500"
    "6bc32406a924f44bfdb6c801d490450a54633bbd66bb0ece8b3a9be09433c537f3e3b2b8"
    "e45833365a94479b1895e9ba13387fca116565c267b6bc1274c82510b21ac9fa77574412"
    "351468fd1eac8928c9494e5eb8a909d9372476c62e8a2b556b557a79cdb47503ba5d9fd8"
    "6d1962c23b3289f37df9a05668957df34c37806359af1d8dfecedf9bbf4888be9753f2b4"
    "49ce4e5cde510572f9be4fb506f329a848c4583ac9ac710e53d512ad504f2e3769c2911c"
    "34f84ad0622c5428446d1e9c59bb6b2029f231b05ef45d3ec60fceff121ba684a023037b"
    "753f855e1067b8ad02783c04eb81ba47fcec0947bbc9661d90c6f00c0f4e6f9c22e0b259"
    "05379f8b265b436a4a74253a64c5734f956d134cf5b6c0671125b20b735f405fee1fc194"
    "1ed141734fa6856e898dc655fb91b045b3797d14b97a68ed3480ec137565d6c4d007f95e"
    "e705d452d0344ce9e9bbd0712f399ef8604f3f472b403ea64f00c969fd30a012cb8be049"
    "c54556994117fc5f6043930107774910be5f47c780427de063a56d45400a814c86dfcc24"
    "65262baf273a6ca89e77bb8c73efe2d22d975516b80c648404b10d3f329776a21251bedf"
    "445ade24b656e8635f0d7fe39772d942d9432766efb5152c6e990123c52744f1c402962a"
    "381ff2aaddaa1bd522a9b65a229f9adcd4099475b3f9ba45161ee35206365181e1d69d26"
    "3d8d27444a7c3a2d7ddbb398ac5affea28cb0373057dad7741e52adb95822fee5157ce3c"
    "0ad978c5231a219ca0726d50eeb0c69d579094a54820194aeef13a365d85c52257f51cb6"
    "5c567e0cdf1ce38b80eaa4d131ab7086e303c5728cf41a25df954d60ac12400d2a2990e6"
    "7dbeff866736937beb8fce526be1dd5dc5d77d00b8783b34691a3e9bda7e697eec4cfa70"
    "b25914795af23ec6d258530f71402b9230947dc99f9140b16a54ba1291f54ef736de6711"
    "c1ae074b627dfc2fc5d5250f812b7ecd1d0f5020a3acf20ad5759cd9e761ce21882977f7"
    "db66aaba2d8f5190f6f23996af14b670ccac066c93af06a41f19d9ee712ce13fbe73b99e"
    "55401b208b991c8ced12d34c";

static const char PPK_SEG1_PLAIN[] =
    "880062158202412183026f438b01058001028800a503c0018062128202412183026f468b"
    "036f060a8001118800810c0253494d616c6c69616e636562118202412183026f568b0108"
    "800101880128810100621b8202412183026f5b8b0105800106880178a508c00180c203f0"
    "000062168202412183026f5c8b0102800103880180a503c0018062168202412183026f73"
    "8b010580010e880160a503c00180020107810700f1100000ff0162118202412183026f78"
    "8b01028001028801308102004062118202412183026f7b8b010580010c88016862168202"
    "412183026f7e8b010580010b880158a503c0018002010781040000ff0162168202412183"
    "026fad8b010a800104880118a503c10100020103810102621382044221000483026fb78b"
    "010a800104880108810419f1ff0162158202412183026fc48b01058001808800a503c001"
    "8062168202412183026fe38b01058001128801f0a503c0018002010f8103000001621682"
    "02412183026fe48b01058001508801c0a503c00180a225a0058000810105a11ca01a3018"
    "80020081810831323334ffffffff82020081830101840122a43aa0058000810106a131a1"
    "2f8001018101018210000102030405060708090a0b0c0d0e0f8310010203040506070809"
    "0a0b0c0d0e0f008603010203a681bba0058000810107a1444f07a00000015153504f08a0"
    "000001515350414f08a000000151000000820382dc0083010fc90a810280008201f08701"
    "f0ea11800f0100000100000002011203b2010000a26c3022950138820101830101301730"
    "158001808610112233445566778899aabbccddeeff103022950134820102830101301730"
    "158001808610112233445566778899aabbccddeeff1030229501c8820103830101301730"
    "158001808610112233445566778899aabbccddeeff10a681c0a0058000810108a1494f07"
    "a00000015153504f08a0000001515350414f10a00000055910100102736456616c756582"
    "0380800083010fc907810280008201f0ea11800f01000001000000020112036c756500a2"
    "6c3022950138820101830101301730158001808610881122334455667788112233445566"
    "773022950134820102830101301730158001808610881122334455667788112233445566"
    "7730229501c8820103830101301730158001808610881122334455667788112233445566"
    "77a8820263a0058000810109a18202184f08a000000559101001c482020a01002edecaff"
    "ed020204000108a0000005591010011b636f6d2f67736d612f65756963632f746573742f"
    "6170706c657431020021002e0021000f003b002a00210066000a000e0000008a040f0000"
    "0000000004010004003b04030107a0000000620101000110a0000000090005ffffffff";

static const char PPK_SEG1_WIRE[] =
    "868203f8648e034ae0dc4ce022ee1e60b130dda95e13b21b0da3de7677677f47900c1beb"
    "3637b8aa35f3a9e096c0285ffe3e931983df900b36b7e6bc4b9af14b0ee3d49637eb2d4c"
    "ff314b5d00789a751dfd9554651fb2b7c66ad4e22a794d5b88cb71ccf4c05d53abeba8bd"
    "3b0c8209346f014cbdee62be4878e3fea09a96007135a6c584aa843c48972842bdbece1c"
    "439723021b3f0d535d557995beedbd2b56f416148df90cb1a4d2fa26288801d56a2cbb0a"
    "404f2fd9a73042d7a3486bfb7256c1d274aae5b7ec24e8eba28b7dce69edc44189b24186"
    "b98397b4a74831f8ab46e8e46a2ed3077d4924f5d3f6e4c1de5ddffd194e7f0f97d94ea2"
    "801d1364835c9871bae6539e3e1355c5970711d845864f04d9c1dccac0d4068dcf4664e9"
    "976509fe43fec6beb3ddc96839aba6d89bb1593c5b6ebbc32fff39c4a5bb3e5c9df6a1ab"
    "c05818dbd5149733381e69521066e1bbd648eb19b00602767e90beaeb3b3b92679940a60"
    "3c0500e37892d7b4fa44355c3deec8af207f89d04f83cd88603e9cb9c96f74643816e87a"
    "f85a8a9d0283cdf535d1fbaefb930fd4a0dba2ae30ee9d2d9e2a31827a012a6380af42ac"
    "87f3bfd7079ddd8fa27d2299fb4d5879e9a17a5062e13cab4f7bed22ed54932fa53d630b"
    "ca8592f957a7ed148e9d4f28075c2565a550694b876091a1181ba512e70fde4f28ae6968"
    "a18d721396c0fee9cd7744dee90bf85f5adddb3417b3ede9ea3cfd5eae2d820b17600ce3"
    "b95f6df38a5bc39302c5155c3f241ddfc7cee527af7f6a67868a577c39e76e26c4ed5d6a"
    "ca031a97c280da27ae8de20e57a1dbab40a31e96e054f9a6f50578fd00156e37b70eead7"
    "1af3258075c1ba84282aea462553504a868443b301ed99dcd5f414b720ef67cf5c4d16f1"
    "f7b9df741c2343246dcb717f3fa62b633539bdcc0082d161499caad8d097be78133dafd1"
    "9777559f77c6d7a8f61323ff660613aa47cee26a4f7515204eee3c7eaa00eb55529b0dda"
    "e3436ec679fc591fe2063de94db00b5d0f041beeb80a91f108f7cf4b3b1344b0fbb43763"
    "0ee437b4c7744c54009a59a9099681f3a3fa386f294c0eb4562581202a369772833efdc6"
    "e840695352de3864671e7fb0fd081ec162a2a62ea5b8a9da837f3920b4196fbe2ec912ad"
    "e440537ae4a07dfc115c9c030539f278e0801bda4f15298ba50e329b18992af8b899686e"
    "c97175509d4a217d2eba8feef5f5732fc7be86370f7723896b784bd45517af86a7521e95"
    "2b6be924d91a5190e3c2c65ce8924df43ddb25c529dde324a722a156df459f4b38bb0629"
    "75fad9fadd27f6425e422b1abd9a7259f0bd712a486e1aa25ca848cf65c5fb888bf61ae1"
    "36b68cf55cb643c198537cd83df0dbb842c5f4982ca3088cc2d8e867c3049a84b515ec39"
    "b0b774a8482099327006acff";


/* [PYSIM-BSP] BSP_Test.test_kdf */
#define K2_SHS   "8902dca391bbb22570fe60c176076246f568b1941265dff1d729e63039658089"
#define K2_EID   "89049032123451234512345678901335"
#define K2_MCV   "734bc93ddb10c71c5ad13d420dc08b5b"
#define K2_S_ENC "d782d575b22a38334556a3d9a1e2ae6b"
#define K2_S_MAC "a35addc192ae8f934e2932116c7e89e7"

/* [PYSIM-BSP] TestBSPdecode: the first '87' and the '88' segment of its
 * BoundProfilePackage (inner TLVs) and their session keys. */
#define DEC_S_ENC "f11b921c302efb1df6bf218bf2de0dd8"
#define DEC_S_MAC "8cd4d3a761eeac108641d5f4531a137e"
#define DEC_MCV   "ee3140eafd692b68eff40119b363bc6c"
#define DEC_W87   "871850e770f3e03c33f0f2f662ebdd46b909d2b0402e4f8a44b6"
#define DEC_W88 \
    "8833bf25285a0a89000123456789012341910a4f736d6f636f6d53504e920e4f736d6f" \
    "636f6d50726f66696c65d4df77c0bb135eb9"
#define DEC_P88 \
    "bf25285a0a89000123456789012341910a4f736d6f636f6d53504e920e4f736d6f636f" \
    "6d50726f66696c65"

/* [RFC7027] A.1 */
#define BP_DA "81DB1EE100150FF2EA338D708271BE38300CB54241D79950F77B063039804F1D"
#define BP_QA "0444106E913F92BC02A1705D9953A8414DB95E1AAA49E81D9E85F929A8E3100BE5" \
              "8AB4846F11CACCB73CE49CBDD120F5A900A69FD32C272223F789EF10EB089BDC"
#define BP_DB "55E40BC41E37E3E2AD25C3C6654511FFA8474A91A0032087593852D3E7D76BD3"
#define BP_QB "048D2D688C6CF93E1160AD04CC4429117DC2C41825E1E9FCA0ADDD34E6F1B39F7B" \
              "990C57520812BE512641E47034832106BC7D3E8DD0E4C7F1136D7006547CEC6A"
#define BP_Z  "89AFC39D41D3B327814B80940B042590F96556EC91E6AE7939BCE31F3A18BF2B"

/* [RFC6979] A.2.5 */
#define R6979_X "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"
#define R6979_U "0460FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6" \
                "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
#define R6979_SIG "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716" \
                  "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"

/* [WYCHEPROOF] brainpoolP256r1, message "123400" */
#define WP_PUB "04019a2d9637743a63ddaefdbca0ee229a163b809b9b145e5313bbeb8defeab9d6" \
               "548caf89bf5ba49499404145651234336401b9b2843a579ed152e090f11b9e59"
#define WP_MSG "313233343030"
#define WP_SIG_OK /* tcId 1 */ \
    "0a5f8c70ba2d0842d5d0f841f160ad15195769a8159bfe692634d73d469d111f" \
    "426e857aad3ff7aa96e4d200c03b45f1846a36d089ee3917768ca1a0d6d4da6e"
#define WP_SIG_R_PLUS_N /* tcId 2 */ \
    "b45ae44c5c1bb1ff143702d28ee43a86a590e44bcafda560b652e5bfdde567c6" \
    "678cd260f4aeb211a781388fdd48478007cf43d32b736de019916ce1c0737c39"
#define WP_SIG_N_MINUS_R /* tcId 4 */ \
    "9f9bcb6ae7c1a1796895124eac22e05c72e210fb9fc5a88e69e9374550ab4588" \
    "678cd260f4aeb211a781388fdd48478007cf43d32b736de019916ce1c0737c39"
#define WP_SIG_ZERO /* tcId 11: r = s = 0 */ \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define WP_SIG_S_N /* tcId 20: r = 1, s = n */ \
    "0000000000000000000000000000000000000000000000000000000000000001" \
    "a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7"

/* ---- curves and keys --------------------------------------------------------- */

static void test_curve_names(void)
{
    int c = -1;

    CU_ASSERT_STRING_EQUAL(rsp_curve_name(RSP_CURVE_P256), "prime256v1");
    CU_ASSERT_STRING_EQUAL(rsp_curve_name(RSP_CURVE_BRAINPOOLP256R1), "brainpoolP256r1");
    CU_ASSERT_PTR_NULL(rsp_curve_name(RSP_CURVE_NONE));
    CU_ASSERT_PTR_NULL(rsp_curve_name(7));
    CU_ASSERT_RC(rsp_curve_from_name("prime256v1", &c), RSP_OK);
    CU_ASSERT_EQUAL(c, RSP_CURVE_P256);
    CU_ASSERT_RC(rsp_curve_from_name("P-256", &c), RSP_OK);
    CU_ASSERT_EQUAL(c, RSP_CURVE_P256);
    CU_ASSERT_RC(rsp_curve_from_name("brainpoolP256r1", &c), RSP_OK);
    CU_ASSERT_EQUAL(c, RSP_CURVE_BRAINPOOLP256R1);
    CU_ASSERT_RC(rsp_curve_from_name("secp384r1", &c), RSP_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(c, RSP_CURVE_NONE);
    CU_ASSERT_RC(rsp_curve_from_name("brainpoolP256t1", &c), RSP_ERR_UNSUPPORTED);
    CU_ASSERT_RC(rsp_curve_from_name(NULL, &c), RSP_ERR_INVAL);
}

static void test_ec_generate(void)
{
    static const int cs[] = { RSP_CURVE_P256, RSP_CURVE_BRAINPOOLP256R1 };

    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *k = NULL, *k2 = NULL, *pub = NULL;
        uint8_t pt[RSP_EC_POINT_LEN], pt2[RSP_EC_POINT_LEN], d[32];
        int c = 0;

        CU_ASSERT_RC(rsp_ec_key_generate(cs[i], &k), RSP_OK);
        CU_ASSERT_RC(rsp_ec_key_curve(k, &c), RSP_OK);
        CU_ASSERT_EQUAL(c, cs[i]);
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(k, pt), RSP_OK);
        CU_ASSERT_EQUAL(pt[0], 0x04);
        CU_ASSERT_RC(rsp_ec_point_check(cs[i], pt, sizeof(pt)), RSP_OK);
        /* scalar round trip gives the same public key */
        CU_ASSERT_RC(rsp_ec_key_to_scalar(k, d), RSP_OK);
        CU_ASSERT_RC(rsp_ec_key_from_scalar(cs[i], d, &k2), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(k2, pt2), RSP_OK);
        CU_ASSERT_BYTES("pub after scalar round trip", pt2, 65, pt, 65);
        /* a public-only key has no scalar */
        CU_ASSERT_RC(rsp_ec_pubkey_from_point(cs[i], pt, sizeof(pt), &pub), RSP_OK);
        CU_ASSERT_RC(rsp_ec_key_to_scalar(pub, d), RSP_ERR_INVAL);
        rsp_ec_key_free(k);
        rsp_ec_key_free(k2);
        rsp_ec_key_free(pub);
    }
    {
        EVP_PKEY *k = (EVP_PKEY *)1;
        CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_NONE, &k), RSP_ERR_UNSUPPORTED);
        CU_ASSERT_PTR_NULL(k);
    }
}

/* Public points of known scalars: [PYSIM-ECKA] otSK.DP, [RFC7027] dA/dB,
 * [RFC6979] x. */
static void test_ec_scalar_kat(void)
{
    static const struct {
        int curve;
        const char *d, *q;
    } v[] = {
        { RSP_CURVE_P256, M51_SMDP_OTSK, M51_SMDP_OTPK },
        { RSP_CURVE_P256, R6979_X, R6979_U },
        { RSP_CURVE_BRAINPOOLP256R1, BP_DA, BP_QA },
        { RSP_CURVE_BRAINPOOLP256R1, BP_DB, BP_QB },
    };
    uint8_t d[32], q[65], pt[65];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        EVP_PKEY *k = NULL;
        hx(v[i].d, d, sizeof(d));
        hx(v[i].q, q, sizeof(q));
        CU_ASSERT_RC(rsp_ec_key_from_scalar(v[i].curve, d, &k), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(k, pt), RSP_OK);
        CU_ASSERT_BYTES("d*G", pt, 65, q, 65);
        rsp_ec_key_free(k);
    }

    /* d = 0, d = n rejected; d = n - 1 accepted */
    {
        EVP_PKEY *k = NULL;
        memset(d, 0, sizeof(d));
        CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_P256, d, &k), RSP_ERR_DECODE);
        CU_ASSERT_PTR_NULL(k);
        memcpy(d, N_P256, 32);
        CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_P256, d, &k), RSP_ERR_DECODE);
        memset(d, 0xFF, sizeof(d));
        CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_P256, d, &k), RSP_ERR_DECODE);
        memcpy(d, N_P256, 32);
        d[31]--;
        CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_P256, d, &k), RSP_OK);
        rsp_ec_key_free(k);
        k = NULL;
        CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_NONE, d, &k), RSP_ERR_UNSUPPORTED);
    }
}

static void test_ec_point_validation(void)
{
    /* p of P-256 */
    static const char *P256_P =
        "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
    uint8_t q[66], bad[66];
    EVP_PKEY *k = (EVP_PKEY *)1;

    hx(M51_EUICC_OTPK, q, sizeof(q));
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, q, 65), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, q, 65, &k), RSP_OK);
    rsp_ec_key_free(k);

    /* wrong lengths and encodings */
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, q, 64), RSP_ERR_DECODE);
    memcpy(bad, q, 65);
    bad[65] = 0;
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, bad, 66), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, q, 0), RSP_ERR_DECODE);
    bad[0] = 0x02 | (q[64] & 1);    /* compressed form of the same point */
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, bad, 33), RSP_ERR_DECODE);
    bad[0] = 0x06 | (q[64] & 1);    /* hybrid form */
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, bad, 65), RSP_ERR_DECODE);

    /* not on the curve: one bit of Y flipped */
    memcpy(bad, q, 65);
    bad[64] ^= 0x01;
    k = (EVP_PKEY *)1;
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, bad, 65, &k), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(k);
    /* the point at infinity has no affine encoding: 04 || 0 || 0 */
    memset(bad, 0, 65);
    bad[0] = 0x04;
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, bad, 65), RSP_ERR_DECODE);
    /* X = p (coordinate not reduced) */
    memcpy(bad, q, 65);
    hx(P256_P, bad + 1, 32);
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, bad, 65), RSP_ERR_DECODE);

    /* wrong curve: a valid P-256 point is not a brainpool point, and back */
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_BRAINPOOLP256R1, q, 65), RSP_ERR_DECODE);
    hx(BP_QA, bad, sizeof(bad));
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_BRAINPOOLP256R1, bad, 65), RSP_OK);
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_P256, bad, 65), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_NONE, q, 65), RSP_ERR_UNSUPPORTED);
}

static void test_ec_pem(void)
{
    static const struct {
        const char *sk, *pk;
        int curve;
    } v[] = {
        { "sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem", "sgp26/eUICC/PK_EUICC_ECDSA_NIST.pem", RSP_CURVE_P256 },
        { "sgp26/eUICC/SK_EUICC_ECDSA_BRP.pem", "sgp26/eUICC/PK_EUICC_ECDSA_BRP.pem", RSP_CURVE_BRAINPOOLP256R1 },
    };
    static const char params_only[] =
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    static const char garbage[] =
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";

    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *k = load_sk(v[i].sk);
        EVP_PKEY *k2 = (EVP_PKEY *)1;
        size_t len = 0;
        uint8_t *pk = read_shared(v[i].pk, &len);
        int c = 0;

        CU_ASSERT_PTR_NOT_NULL(k);
        CU_ASSERT_RC(rsp_ec_key_curve(k, &c), RSP_OK);
        CU_ASSERT_EQUAL(c, v[i].curve);
        /* a public key PEM is not a private key */
        if (pk)
            CU_ASSERT_RC(rsp_ec_key_from_pem(pk, len, &k2), RSP_ERR_DECODE);
        CU_ASSERT_PTR_NULL(k2);
        free(pk);
        rsp_ec_key_free(k);
    }
    {
        EVP_PKEY *k = (EVP_PKEY *)1;
        CU_ASSERT_RC(rsp_ec_key_from_pem((const uint8_t *)params_only,
                                         sizeof(params_only) - 1, &k), RSP_ERR_DECODE);
        CU_ASSERT_PTR_NULL(k);
        CU_ASSERT_RC(rsp_ec_key_from_pem((const uint8_t *)garbage,
                                         sizeof(garbage) - 1, &k), RSP_ERR_DECODE);
        CU_ASSERT_RC(rsp_ec_key_from_pem((const uint8_t *)"x", 0, &k), RSP_ERR_INVAL);
    }
}

/* ---- ECDSA ------------------------------------------------------------------ */

/* Sign with each SGP.26 private key, verify with the public key of its
 * certificate (both curves); then the negative cases. */
static void test_ecdsa_sgp26_roundtrip(void)
{
    static const struct {
        const char *sk, *cert;
        int curve;
    } v[] = {
        { "sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem", "sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der", RSP_CURVE_P256 },
        { "sgp26/eUICC/SK_EUICC_ECDSA_BRP.pem", "sgp26/eUICC/CERT_EUICC_ECDSA_BRP.der", RSP_CURVE_BRAINPOOLP256R1 },
        { "sgp26/DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem", "sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", RSP_CURVE_P256 },
        { "sgp26/DPauth/SK_S_SM_DPauth_ECDSA_BRP.pem", "sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_BRP.der", RSP_CURVE_BRAINPOOLP256R1 },
        { "sgp26/DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem", "sgp26/DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der", RSP_CURVE_P256 },
        { "sgp26/DPpb/SK_S_SM_DPpb_ECDSA_BRP.pem", "sgp26/DPpb/CERT_S_SM_DPpb_ECDSA_BRP.der", RSP_CURVE_BRAINPOOLP256R1 },
        { "sgp26/EUM/SK_EUM_ECDSA_NIST.pem", "sgp26/EUM/CERT_EUM_ECDSA_NIST.der", RSP_CURVE_P256 },
        { "sgp26/EUM/SK_EUM_ECDSA_BRP.pem", "sgp26/EUM/CERT_EUM_ECDSA_BRP.der", RSP_CURVE_BRAINPOOLP256R1 },
        { "sgp26/CertificateIssuer/SK_CI_ECDSA_NIST.pem", "sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der", RSP_CURVE_P256 },
        { "sgp26/CertificateIssuer/SK_CI_ECDSA_BRP.pem", "sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.der", RSP_CURVE_BRAINPOOLP256R1 },
    };
    /* stands for the DER of euiccSigned1 */
    static const uint8_t msg[] = { 0x30, 0x0b, 0x80, 0x03, 0x01, 0x02, 0x03,
                                   0x81, 0x04, 'R', 'S', 'P', '!' };
    EVP_PKEY *other[3] = { NULL, NULL, NULL };

    CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_P256, &other[RSP_CURVE_P256]), RSP_OK);
    CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_BRAINPOOLP256R1,
                                     &other[RSP_CURVE_BRAINPOOLP256R1]), RSP_OK);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        EVP_PKEY *sk = load_sk(v[i].sk);
        EVP_PKEY *pk = load_cert_pub(v[i].cert, v[i].curve);
        EVP_PKEY *wrong_curve = other[v[i].curve == RSP_CURVE_P256 ?
                                      RSP_CURVE_BRAINPOOLP256R1 : RSP_CURVE_P256];
        uint8_t sig[64], bad[64], m2[sizeof(msg)];

        if (!sk || !pk) {
            CU_FAIL("SGP.26 key or certificate missing");
            rsp_ec_key_free(sk);
            rsp_ec_key_free(pk);
            continue;
        }
        CU_ASSERT_RC(rsp_ecdsa_sign(sk, msg, sizeof(msg), sig), RSP_OK);
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, msg, sizeof(msg), sig, 64), RSP_OK);
        /* the private key verifies too (its public half) */
        CU_ASSERT_RC(rsp_ecdsa_verify(sk, msg, sizeof(msg), sig, 64), RSP_OK);
        /* verify takes the exact bytes signed */
        memcpy(m2, msg, sizeof(msg));
        m2[sizeof(m2) - 1] ^= 1;
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, m2, sizeof(m2), sig, 64), RSP_ERR_VERIFY);
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, msg, sizeof(msg) - 1, sig, 64), RSP_ERR_VERIFY);
        memcpy(bad, sig, 64);
        bad[10] ^= 0x40;
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, msg, sizeof(msg), bad, 64), RSP_ERR_VERIFY);
        memcpy(bad, sig, 64);
        bad[63] ^= 0x01;
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, msg, sizeof(msg), bad, 64), RSP_ERR_VERIFY);
        /* another key of the same curve, and a key of the other curve */
        CU_ASSERT_RC(rsp_ecdsa_verify(other[v[i].curve], msg, sizeof(msg), sig, 64),
                     RSP_ERR_VERIFY);
        CU_ASSERT_RC(rsp_ecdsa_verify(wrong_curve, msg, sizeof(msg), sig, 64),
                     RSP_ERR_VERIFY);
        /* signing needs the private key */
        CU_ASSERT_RC(rsp_ecdsa_sign(pk, msg, sizeof(msg), bad), RSP_ERR_INVAL);
        rsp_ec_key_free(sk);
        rsp_ec_key_free(pk);
    }
    rsp_ec_key_free(other[1]);
    rsp_ec_key_free(other[2]);
}

static void test_ecdsa_verify_kat(void)
{
    uint8_t q[65], sig[64], msg[8];
    size_t mlen;
    EVP_PKEY *k = NULL;

    /* [RFC6979] P-256 "sample" */
    hx(R6979_U, q, sizeof(q));
    hx(R6979_SIG, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, q, 65, &k), RSP_OK);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, (const uint8_t *)"sample", 6, sig, 64), RSP_OK);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, (const uint8_t *)"samplf", 6, sig, 64), RSP_ERR_VERIFY);
    rsp_ec_key_free(k);
    k = NULL;

    /* [WYCHEPROOF] brainpoolP256r1 */
    hx(WP_PUB, q, sizeof(q));
    mlen = hx(WP_MSG, msg, sizeof(msg));
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_BRAINPOOLP256R1, q, 65, &k), RSP_OK);
    hx(WP_SIG_OK, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, mlen, sig, 64), RSP_OK);
    hx(WP_SIG_R_PLUS_N, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, mlen, sig, 64), RSP_ERR_VERIFY);
    hx(WP_SIG_N_MINUS_R, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, mlen, sig, 64), RSP_ERR_VERIFY);
    hx(WP_SIG_ZERO, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, mlen, sig, 64), RSP_ERR_VERIFY);
    hx(WP_SIG_S_N, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, mlen, sig, 64), RSP_ERR_VERIFY);
    rsp_ec_key_free(k);
}

/* Non-canonical r||s and DER forms of a valid P-256 signature. */
static void test_ecdsa_noncanonical(void)
{
    uint8_t q[65], sig[64], bad[66], der[80], der2[80], rs[64];
    size_t dlen = 0, dlen2 = 0;
    const uint8_t *msg = (const uint8_t *)"sample";
    EVP_PKEY *k = NULL;

    hx(R6979_U, q, sizeof(q));
    hx(R6979_SIG, sig, sizeof(sig));
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, q, 65, &k), RSP_OK);

    /* r = 0 */
    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, bad, 64), RSP_ERR_VERIFY);
    /* s = 0 */
    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, bad, 64), RSP_ERR_VERIFY);
    /* s = n, s = n + 1, s = 2^256 - 1 */
    memcpy(bad, sig, 32);
    memcpy(bad + 32, N_P256, 32);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, bad, 64), RSP_ERR_VERIFY);
    bad[63]++;
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, bad, 64), RSP_ERR_VERIFY);
    memset(bad + 32, 0xFF, 32);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, bad, 64), RSP_ERR_VERIFY);
    /* 63 and 65 bytes */
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, sig, 63), RSP_ERR_VERIFY);
    memcpy(bad + 1, sig, 64);
    bad[0] = 0;
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, bad, 65), RSP_ERR_VERIFY);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, sig, 0), RSP_ERR_VERIFY);
    /* the same signature in DER is not r||s */
    CU_ASSERT_RC(rsp_ecdsa_sig_to_der(RSP_CURVE_P256, sig, der, &dlen), RSP_OK);
    CU_ASSERT_RC(rsp_ecdsa_verify(k, msg, 6, der, dlen), RSP_ERR_VERIFY);

    /* DER round trip: r has its top bit set, so both INTEGERs carry a 00 */
    CU_ASSERT_EQUAL(dlen, 72);
    CU_ASSERT_EQUAL(der[0], 0x30);
    CU_ASSERT_EQUAL(der[1], 70);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der, dlen, rs), RSP_OK);
    CU_ASSERT_BYTES("DER -> r||s", rs, 64, sig, 64);

    /* trailing garbage */
    memcpy(der2, der, dlen);
    der2[dlen] = 0x00;
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, dlen + 1, rs), RSP_ERR_DECODE);
    /* truncated */
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der, dlen - 1, rs), RSP_ERR_DECODE);
    /* long-form length of the SEQUENCE: 30 81 46 ... */
    der2[0] = 0x30;
    der2[1] = 0x81;
    memcpy(der2 + 2, der + 1, dlen - 1);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, dlen + 1, rs), RSP_ERR_DECODE);
    /* a redundant leading 00 on s: 02 22 00 00 <s> */
    memcpy(der2, der, 37);
    der2[1] = 71;
    der2[37] = 0x02;
    der2[38] = 0x22;
    der2[39] = 0x00;
    der2[40] = 0x00;
    memcpy(der2 + 41, der + 40, 32);
    dlen2 = 73;
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, dlen2, rs), RSP_ERR_DECODE);
    /* r negative: drop the 00 that keeps r positive (02 20 <r>, top bit set) */
    der2[0] = 0x30;
    der2[1] = 69;
    der2[2] = 0x02;
    der2[3] = 0x20;
    memcpy(der2 + 4, der + 5, 32);
    memcpy(der2 + 36, der + 37, 35);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, 71, rs), RSP_ERR_DECODE);
    /* r = 0: 30 25 02 01 00 02 21 00 <s> */
    der2[0] = 0x30;
    der2[1] = 0x26;
    der2[2] = 0x02;
    der2[3] = 0x01;
    der2[4] = 0x00;
    memcpy(der2 + 5, der + 37, 35);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, 40, rs), RSP_ERR_DECODE);
    /* wrong outer tag, empty, nonsense */
    memcpy(der2, der, dlen);
    der2[0] = 0x31;
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, dlen, rs), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der, 0, rs), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, (const uint8_t *)"0\x06\x02\x01\x01\x02\x01\x01", 8, rs), RSP_OK);
    /* BER forms of that: indefinite length, long-form length */
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, (const uint8_t *)"0\x80\x02\x01\x01\x02\x01\x01\x00\x00", 10, rs), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, (const uint8_t *)"0\x81\x06\x02\x01\x01\x02\x01\x01", 9, rs), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, (const uint8_t *)"0\x06\x02\x81\x01\x01\x02\x01\x01", 9, rs), RSP_ERR_DECODE);
    /* s >= n in valid DER */
    memcpy(bad, sig, 32);
    memcpy(bad + 32, N_P256, 32);
    CU_ASSERT_RC(rsp_ecdsa_sig_to_der(RSP_CURVE_P256, bad, der2, &dlen2), RSP_ERR_DECODE);
    CU_ASSERT_EQUAL(dlen2, 0);
    /* s = n: well-formed DER, out of range */
    memcpy(der2, der, 37);
    memcpy(der2 + 37, "\x02\x21\x00", 3);
    memcpy(der2 + 40, N_P256, 32);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, 72, rs), RSP_ERR_DECODE);
    /* and the untouched copy still converts (the cases above differ only
     * where intended) */
    memcpy(der2 + 40, der + 40, 32);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_P256, der2, 72, rs), RSP_OK);
    CU_ASSERT_RC(rsp_ecdsa_sig_from_der(RSP_CURVE_NONE, der, dlen, rs), RSP_ERR_UNSUPPORTED);
    rsp_ec_key_free(k);
}

/* ---- ECKA ------------------------------------------------------------------- */

static void test_ecka_kat(void)
{
    uint8_t d[32], q[65], want[32], shs[32];
    EVP_PKEY *own = NULL, *peer = NULL;

    /* [PYSIM-ECKA] SM-DP+ side: otSK.DP x otPK.EUICC */
    hx(M51_SMDP_OTSK, d, sizeof(d));
    hx(M51_EUICC_OTPK, q, sizeof(q));
    hx(M51_SHS, want, sizeof(want));
    CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_P256, d, &own), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, q, 65, &peer), RSP_OK);
    CU_ASSERT_RC(rsp_ecka_derive(own, peer, shs), RSP_OK);
    CU_ASSERT_BYTES("ShS P-256 (pySim mode51)", shs, 32, want, 32);
    rsp_ec_key_free(own);
    rsp_ec_key_free(peer);

    /* [RFC7027] both directions */
    hx(BP_Z, want, sizeof(want));
    hx(BP_DA, d, sizeof(d));
    hx(BP_QB, q, sizeof(q));
    own = peer = NULL;
    CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_BRAINPOOLP256R1, d, &own), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_BRAINPOOLP256R1, q, 65, &peer), RSP_OK);
    CU_ASSERT_RC(rsp_ecka_derive(own, peer, shs), RSP_OK);
    CU_ASSERT_BYTES("ShS brainpool dA*QB (RFC 7027)", shs, 32, want, 32);
    rsp_ec_key_free(own);
    rsp_ec_key_free(peer);
    hx(BP_DB, d, sizeof(d));
    hx(BP_QA, q, sizeof(q));
    own = peer = NULL;
    CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_BRAINPOOLP256R1, d, &own), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_BRAINPOOLP256R1, q, 65, &peer), RSP_OK);
    CU_ASSERT_RC(rsp_ecka_derive(own, peer, shs), RSP_OK);
    CU_ASSERT_BYTES("ShS brainpool dB*QA (RFC 7027)", shs, 32, want, 32);
    rsp_ec_key_free(own);
    rsp_ec_key_free(peer);
}

static void test_ecka_negative(void)
{
    EVP_PKEY *a = NULL, *b = NULL, *bp = NULL, *apub = NULL;
    uint8_t s1[32], s2[32], pt[65];

    CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_P256, &a), RSP_OK);
    CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_P256, &b), RSP_OK);
    CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_BRAINPOOLP256R1, &bp), RSP_OK);
    /* symmetric */
    CU_ASSERT_RC(rsp_ecka_derive(a, b, s1), RSP_OK);
    CU_ASSERT_RC(rsp_ecka_derive(b, a, s2), RSP_OK);
    CU_ASSERT_BYTES("ECKA a*B == b*A", s1, 32, s2, 32);
    /* curves differ */
    CU_ASSERT_RC(rsp_ecka_derive(a, bp, s1), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_ecka_derive(bp, a, s1), RSP_ERR_INVAL);
    /* own key without a private part */
    CU_ASSERT_RC(rsp_ec_pubkey_to_point(a, pt), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, pt, 65, &apub), RSP_OK);
    CU_ASSERT_RC(rsp_ecka_derive(apub, b, s1), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_ecka_derive(b, apub, s1), RSP_OK);
    CU_ASSERT_BYTES("ECKA with imported peer point", s1, 32, s2, 32);
    rsp_ec_key_free(a);
    rsp_ec_key_free(b);
    rsp_ec_key_free(bp);
    rsp_ec_key_free(apub);
}

/* ---- KDF and CMAC ----------------------------------------------------------- */

static void test_x963_kdf(void)
{
    uint8_t shs[32], info[64], out[48], want[48];
    size_t n = 0;

    /* [PYSIM-BSP] mode51 through the generic KDF: SharedInfo built by hand */
    hx(M51_SHS, shs, sizeof(shs));
    info[n++] = 0x88;
    info[n++] = 0x10;
    info[n++] = 8;
    n += hx(M51_HOSTID, info + n, 8);
    info[n++] = 16;
    n += hx(M51_EID, info + n, 16);
    hx(M51_MCV M51_S_ENC M51_S_MAC, want, sizeof(want));
    CU_ASSERT_RC(rsp_x963_kdf_sha256(shs, 32, info, n, out, 48), RSP_OK);
    CU_ASSERT_BYTES("X9.63 KDF (pySim mode51)", out, 48, want, 48);
    /* a shorter output is a prefix (the counter blocks are independent) */
    CU_ASSERT_RC(rsp_x963_kdf_sha256(shs, 32, info, n, out, 20), RSP_OK);
    CU_ASSERT_BYTES("X9.63 KDF prefix", out, 20, want, 20);
    CU_ASSERT_RC(rsp_x963_kdf_sha256(shs, 32, info, n, out, 0), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_x963_kdf_sha256(shs, 0, info, n, out, 16), RSP_ERR_INVAL);
}

static void test_bsp_kdf(void)
{
    struct rsp_bsp_keys k;
    uint8_t shs[32], eid[16], host[8], a[16], b[16], c[16];

    hx(M51_HOSTID, host, sizeof(host));

    hx(M51_SHS, shs, sizeof(shs));
    hx(M51_EID, eid, sizeof(eid));
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x10, host, 8, eid, &k), RSP_OK);
    hx(M51_MCV, a, 16);
    hx(M51_S_ENC, b, 16);
    hx(M51_S_MAC, c, 16);
    CU_ASSERT_BYTES("mode51 initial MCV", k.mcv, 16, a, 16);
    CU_ASSERT_BYTES("mode51 S-ENC", k.s_enc, 16, b, 16);
    CU_ASSERT_BYTES("mode51 S-MAC", k.s_mac, 16, c, 16);

    hx(K2_SHS, shs, sizeof(shs));
    hx(K2_EID, eid, sizeof(eid));
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x10, host, 8, eid, &k), RSP_OK);
    hx(K2_MCV, a, 16);
    hx(K2_S_ENC, b, 16);
    hx(K2_S_MAC, c, 16);
    CU_ASSERT_BYTES("BSP_Test initial MCV", k.mcv, 16, a, 16);
    CU_ASSERT_BYTES("BSP_Test S-ENC", k.s_enc, 16, b, 16);
    CU_ASSERT_BYTES("BSP_Test S-MAC", k.s_mac, 16, c, 16);

    /* every input matters: another host id gives other keys */
    host[7] ^= 1;
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x10, host, 8, eid, &k), RSP_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(k.s_enc, b, 16), 0);
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x20, host, 8, eid, &k), RSP_ERR_UNSUPPORTED);
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x80, 0x10, host, 8, eid, &k), RSP_ERR_UNSUPPORTED);
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x10, host, 0, eid, &k), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x10, host, 128, eid, &k), RSP_ERR_INVAL);
    rsp_bsp_keys_wipe(&k);
}

/* [SP800-38B] D.1 examples 1-4 */
static void test_aes_cmac(void)
{
    static const char *const want[] = {
        "bb1d6929e95937287fa37d129b756746",
        "070a16b46b4d4144f79bdd9dd04a287c",
        "dfa66747de9ae63030ca32611497c827",
        "51f0bebf7e3b9d92fc49741779363cfe",
    };
    static const size_t lens[] = { 0, 16, 40, 64 };
    uint8_t key[16], m[64], mac[16], w[16];

    hx("2b7e151628aed2a6abf7158809cf4f3c", key, sizeof(key));
    hx("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
       "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710", m, sizeof(m));
    for (size_t i = 0; i < 4; i++) {
        hx(want[i], w, sizeof(w));
        CU_ASSERT_RC(rsp_aes_cmac(key, m, lens[i], mac), RSP_OK);
        CU_ASSERT_BYTES("AES-CMAC SP 800-38B", mac, 16, w, 16);
    }
}

/* ---- BSP ------------------------------------------------------------------------ */

static void bsp_from_hex(struct rsp_bsp *b, const char *enc, const char *mac,
                         const char *mcv)
{
    uint8_t e[16], m[16], c[16];

    hx(enc, e, 16);
    hx(mac, m, 16);
    hx(mcv, c, 16);
    rsp_bsp_init(b, e, m, c);
}

/* Protect one segment and compare with the expected wire bytes. */
static void wrap_eq(struct rsp_bsp *b, uint8_t tag, int prot, const char *plain,
                    const char *wire, const char *what)
{
    static uint8_t p[1100], w[1100];
    size_t plen = hx(plain, p, sizeof(p)), wlen = hx(wire, w, sizeof(w));
    struct rsp_buf out;

    rsp_buf_init(&out, 4096);
    CU_ASSERT_RC(rsp_bsp_wrap(b, tag, prot, p, plen, &out), RSP_OK);
    CU_ASSERT_BYTES(what, out.data, out.len, w, wlen);
    rsp_buf_free(&out);
}

static void unwrap_eq(struct rsp_bsp *b, int prot, const char *wire,
                      const char *plain, uint8_t want_tag, const char *what)
{
    static uint8_t p[1100], w[1100];
    size_t plen = hx(plain, p, sizeof(p)), wlen = hx(wire, w, sizeof(w));
    struct rsp_buf out;
    uint8_t tag = 0;

    rsp_buf_init(&out, 4096);
    CU_ASSERT_RC(rsp_bsp_unwrap(b, prot, w, wlen, &tag, &out), RSP_OK);
    CU_ASSERT_EQUAL(tag, want_tag);
    CU_ASSERT_BYTES(what, out.data, out.len, p, plen);
    rsp_buf_free(&out);
}

/* [PYSIM-ECKA] + [PYSIM-BSP] mode51, SM-DP+ side, from the one-time keys to
 * the wire bytes: ECKA -> KDF -> 87, 88, 87 -> ReplaceSessionKeys -> 86, 86. */
static void test_bsp_wrap_chain_p256(void)
{
    uint8_t d[32], q[65], shs[32], eid[16], host[8], p3[64];
    EVP_PKEY *otsk = NULL, *otpk = NULL;
    struct rsp_bsp_keys keys;
    struct rsp_bsp b;

    hx(M51_SMDP_OTSK, d, sizeof(d));
    hx(M51_EUICC_OTPK, q, sizeof(q));
    hx(M51_EID, eid, sizeof(eid));
    hx(M51_HOSTID, host, sizeof(host));
    CU_ASSERT_RC(rsp_ec_key_from_scalar(RSP_CURVE_P256, d, &otsk), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_from_point(RSP_CURVE_P256, q, 65, &otpk), RSP_OK);
    CU_ASSERT_RC(rsp_ecka_derive(otsk, otpk, shs), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_kdf(shs, 0x88, 0x10, host, 8, eid, &keys), RSP_OK);
    rsp_bsp_init_keys(&b, &keys);
    CU_ASSERT_EQUAL(b.counter, 1);

    wrap_eq(&b, 0x87, RSP_BSP_ENC_MAC, M51_P1, M51_W1, "87 ConfigureISDP");
    wrap_eq(&b, 0x88, RSP_BSP_MAC_ONLY, M51_P2, M51_W2, "88 StoreMetadata (MAC only)");
    wrap_eq(&b, 0x87, RSP_BSP_ENC_MAC, M51_P3, M51_W3, "87 ReplaceSessionKeys");
    CU_ASSERT_EQUAL(b.counter, 4);

    /* M51_P3 is ReplaceSessionKeysRequest BF26 { 80 mcv, 81 ppkEnc, 82 ppkCmac } */
    hx(M51_P3, p3, sizeof(p3));
    rsp_bsp_replace_keys(&b, p3 + 23, p3 + 41, p3 + 5);
    CU_ASSERT_EQUAL(b.counter, 1);
    wrap_eq(&b, 0x86, RSP_BSP_ENC_MAC, PPK_SEG0_PLAIN, PPK_SEG0_WIRE, "86 segment 0 (PPK)");
    wrap_eq(&b, 0x86, RSP_BSP_ENC_MAC, PPK_SEG1_PLAIN, PPK_SEG1_WIRE, "86 segment 1 (PPK)");

    rsp_bsp_wipe(&b);
    rsp_bsp_keys_wipe(&keys);
    rsp_ec_key_free(otsk);
    rsp_ec_key_free(otpk);
}

/* The same chain, eUICC side: verify-then-decrypt every segment. */
static void test_bsp_unwrap_chain_p256(void)
{
    uint8_t p3[64], ppk[16];
    struct rsp_bsp b, ppk_b;

    bsp_from_hex(&b, M51_S_ENC, M51_S_MAC, M51_MCV);
    unwrap_eq(&b, RSP_BSP_ENC_MAC, M51_W1, M51_P1, 0x87, "87 ConfigureISDP");
    unwrap_eq(&b, RSP_BSP_MAC_ONLY, M51_W2, M51_P2, 0x88, "88 StoreMetadata");
    unwrap_eq(&b, RSP_BSP_ENC_MAC, M51_W3, M51_P3, 0x87, "87 ReplaceSessionKeys");
    hx(M51_P3, p3, sizeof(p3));
    hx(PPK_ENC, ppk, 16);
    CU_ASSERT_BYTES("ppkEnc in ReplaceSessionKeys", p3 + 23, 16, ppk, 16);
    rsp_bsp_replace_keys(&b, p3 + 23, p3 + 41, p3 + 5);
    bsp_from_hex(&ppk_b, PPK_ENC, PPK_MAC, PPK_MCV);
    CU_ASSERT_EQUAL(memcmp(&b, &ppk_b, sizeof(b)), 0);
    unwrap_eq(&b, RSP_BSP_ENC_MAC, PPK_SEG0_WIRE, PPK_SEG0_PLAIN, 0x86, "86 segment 0");
    unwrap_eq(&b, RSP_BSP_ENC_MAC, PPK_SEG1_WIRE, PPK_SEG1_PLAIN, 0x86, "86 segment 1");

    /* [PYSIM-BSP] TestBSPdecode: another session, 87 then 88 */
    bsp_from_hex(&b, DEC_S_ENC, DEC_S_MAC, DEC_MCV);
    unwrap_eq(&b, RSP_BSP_ENC_MAC, DEC_W87, "bf2400", 0x87, "decode 87");
    unwrap_eq(&b, RSP_BSP_MAC_ONLY, DEC_W88, DEC_P88, 0x88, "decode 88");
    rsp_bsp_wipe(&b);
    rsp_bsp_wipe(&ppk_b);
}

/* Expect unwrap to fail with want and leave the session unchanged. */
static void unwrap_fails(struct rsp_bsp *b, int prot, const uint8_t *seg,
                         size_t len, int want, const char *what)
{
    struct rsp_bsp before = *b;
    struct rsp_buf out;
    uint8_t tag = 0xAA;
    int rc;

    rsp_buf_init(&out, 4096);
    rc = rsp_bsp_unwrap(b, prot, seg, len, &tag, &out);
    if (rc != want)
        fprintf(stderr, "\n  %s: rc %d, want %d\n", what, rc, want);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_EQUAL(tag, 0);
    CU_ASSERT_EQUAL(out.len, 0);
    CU_ASSERT_EQUAL(memcmp(&before, b, sizeof(before)), 0);
    rsp_buf_free(&out);
}

/* Build an encrypted segment whose MAC is right but whose padded plaintext
 * is `padded` (a multiple of 16), to reach the padding check. */
static size_t forge_segment(const struct rsp_bsp *b, const uint8_t *padded,
                            size_t n, uint8_t *seg)
{
    uint8_t ctr[16] = { 0 }, icv[16], mac[16], macin[16 + 4 + 64];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    size_t hdr = 2;

    ctr[15] = (uint8_t)b->counter;
    EVP_EncryptInit_ex2(c, EVP_aes_128_ecb(), b->s_enc, NULL, NULL);
    EVP_CIPHER_CTX_set_padding(c, 0);
    EVP_EncryptUpdate(c, icv, &l1, ctr, 16);
    EVP_EncryptInit_ex2(c, EVP_aes_128_cbc(), b->s_enc, icv, NULL);
    EVP_CIPHER_CTX_set_padding(c, 0);
    seg[0] = 0x86;
    seg[1] = (uint8_t)(n + 8);
    EVP_EncryptUpdate(c, seg + hdr, &l1, padded, (int)n);
    EVP_EncryptFinal_ex(c, seg + hdr + l1, &l2);
    EVP_CIPHER_CTX_free(c);
    memcpy(macin, b->mcv, 16);
    memcpy(macin + 16, seg, hdr + n);
    rsp_aes_cmac(b->s_mac, macin, 16 + hdr + n, mac);
    memcpy(seg + hdr + n, mac, 8);
    return hdr + n + 8;
}

static void test_bsp_unwrap_negative(void)
{
    static uint8_t w1[64], w2[128], w3[128], seg[1100], big[1100];
    size_t l1 = hx(M51_W1, w1, sizeof(w1));
    size_t l2 = hx(M51_W2, w2, sizeof(w2));
    size_t l3 = hx(M51_W3, w3, sizeof(w3));
    struct rsp_bsp b, z;
    struct rsp_buf out;
    uint8_t tag, padded[32];
    size_t n;

    bsp_from_hex(&b, M51_S_ENC, M51_S_MAC, M51_MCV);

    /* tampered MAC, ciphertext, tag, length */
    memcpy(seg, w1, l1);
    seg[l1 - 1] ^= 0x01;
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, l1, RSP_ERR_VERIFY, "tampered MAC");
    memcpy(seg, w1, l1);
    seg[5] ^= 0x80;
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, l1, RSP_ERR_VERIFY, "tampered ciphertext");
    memcpy(seg, w1, l1);
    seg[0] = 0x86;
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, l1, RSP_ERR_VERIFY, "tampered tag");
    /* truncated: length no longer matches */
    unwrap_fails(&b, RSP_BSP_ENC_MAC, w1, l1 - 1, RSP_ERR_DECODE, "truncated");
    memcpy(seg, w1, l1);
    seg[l1] = 0;
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, l1 + 1, RSP_ERR_DECODE, "trailing byte");
    /* non-minimal length 81 18 */
    seg[0] = 0x87;
    seg[1] = 0x81;
    memcpy(seg + 2, w1 + 1, l1 - 1);
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, l1 + 1, RSP_ERR_DECODE, "non-minimal length");
    /* multi-byte tag */
    memcpy(seg, w1, l1);
    seg[0] = 0x9F;
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, l1, RSP_ERR_DECODE, "multi-byte tag");
    /* a MAC-only segment whose data is not whole blocks, read as encrypted */
    n = hx(DEC_W88, seg, sizeof(seg));
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, n, RSP_ERR_DECODE, "88 as encrypted");

    /* wrong keys */
    {
        struct rsp_bsp wk;
        bsp_from_hex(&wk, M51_S_ENC, M51_S_ENC, M51_MCV);
        unwrap_fails(&wk, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_VERIFY, "wrong S-MAC");
        bsp_from_hex(&wk, M51_S_ENC, M51_S_MAC, M51_S_MAC);
        unwrap_fails(&wk, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_VERIFY, "wrong chaining value");
        /* right S-MAC, wrong S-ENC: MAC passes, padding cannot be found */
        bsp_from_hex(&wk, M51_S_MAC, M51_S_MAC, M51_MCV);
        unwrap_fails(&wk, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_DECODE, "wrong S-ENC");
        rsp_bsp_wipe(&wk);
    }

    /* wrong order: segment 2 or 3 before 1, then replay of 1 */
    unwrap_fails(&b, RSP_BSP_MAC_ONLY, w2, l2, RSP_ERR_VERIFY, "88 before 87");
    unwrap_fails(&b, RSP_BSP_ENC_MAC, w3, l3, RSP_ERR_VERIFY, "third before first");
    rsp_buf_init(&out, 64);
    CU_ASSERT_RC(rsp_bsp_unwrap(&b, RSP_BSP_ENC_MAC, w1, l1, &tag, &out), RSP_OK);
    rsp_buf_free(&out);
    unwrap_fails(&b, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_VERIFY, "replayed 87");
    /* the session survived the failures: 88 still verifies */
    rsp_buf_init(&out, 64);
    CU_ASSERT_RC(rsp_bsp_unwrap(&b, RSP_BSP_MAC_ONLY, w2, l2, &tag, &out), RSP_OK);
    rsp_buf_free(&out);

    /* bad padding under a valid MAC */
    memset(padded, 0, sizeof(padded));
    n = forge_segment(&b, padded, 16, seg);                 /* no 80 at all */
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, n, RSP_ERR_DECODE, "all-zero padding");
    padded[15] = 0x01;
    n = forge_segment(&b, padded, 16, seg);
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, n, RSP_ERR_DECODE, "padding ends in 01");
    memset(padded, 0, sizeof(padded));
    padded[15] = 0x80;                                      /* 80 then a zero block */
    n = forge_segment(&b, padded, 32, seg);
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, n, RSP_ERR_DECODE, "padding over 16 bytes");
    memset(padded, 0, sizeof(padded));
    padded[0] = 0x80;                                       /* 80 + 15 zeros: valid */
    n = forge_segment(&b, padded, 16, seg);
    rsp_buf_init(&out, 64);
    CU_ASSERT_RC(rsp_bsp_unwrap(&b, RSP_BSP_ENC_MAC, seg, n, &tag, &out), RSP_OK);
    CU_ASSERT_EQUAL(out.len, 0);
    rsp_buf_free(&out);

    /* ciphertext not a whole number of blocks; too short; too big */
    memcpy(seg, "\x87\x0c" "0123456789ab", 14);
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, 14, RSP_ERR_DECODE, "12-byte ciphertext");
    memcpy(seg, "\x87\x08" "01234567", 10);
    unwrap_fails(&b, RSP_BSP_ENC_MAC, seg, 10, RSP_ERR_DECODE, "empty ciphertext");
    memcpy(seg, "\x88\x07" "0123456", 9);
    unwrap_fails(&b, RSP_BSP_MAC_ONLY, seg, 9, RSP_ERR_DECODE, "shorter than a MAC");
    unwrap_fails(&b, RSP_BSP_MAC_ONLY, seg, 1, RSP_ERR_DECODE, "one byte");
    memset(big, 0, sizeof(big));
    big[0] = 0x86;
    big[1] = 0x82;
    big[2] = 0x04;
    big[3] = 0x08;
    unwrap_fails(&b, RSP_BSP_ENC_MAC, big, 1036, RSP_ERR_TOOBIG, "1036-byte segment");

    /* a zeroed (or wiped) context is refused */
    memset(&z, 0, sizeof(z));
    unwrap_fails(&z, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_STATE, "zeroed context");
    unwrap_fails(&b, 5, w1, l1, RSP_ERR_INVAL, "bad prot");
    rsp_bsp_wipe(&b);
}

/* Sizes, padding edge cases, splitting, the out cap. */
/* ---- the keyed unwrap context (rsp_bsp.h) ----------------------------------------- */

static void ctx_unwrap_eq(struct rsp_bsp_ctx *c, int prot, const char *wire,
                          const char *plain, uint8_t want_tag, const char *what)
{
    static uint8_t p[1100], w[1100];
    size_t plen = hx(plain, p, sizeof(p)), wlen = hx(wire, w, sizeof(w));
    struct rsp_buf out;
    uint8_t tag = 0;

    rsp_buf_init(&out, 4096);
    CU_ASSERT_RC(rsp_bsp_ctx_unwrap(c, prot, w, wlen, &tag, &out), RSP_OK);
    CU_ASSERT_EQUAL(tag, want_tag);
    CU_ASSERT_BYTES(what, out.data, out.len, p, plen);
    rsp_buf_free(&out);
}

static void ctx_unwrap_fails(struct rsp_bsp_ctx *c, int prot, const uint8_t *seg,
                             size_t len, int want, const char *what)
{
    struct rsp_buf out;
    uint8_t tag = 0xAA;
    int rc;

    rsp_buf_init(&out, 4096);
    rc = rsp_bsp_ctx_unwrap(c, prot, seg, len, &tag, &out);
    if (rc != want)
        fprintf(stderr, "\n  %s: rc %d, want %d\n", what, rc, want);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_EQUAL(tag, 0);
    CU_ASSERT_EQUAL(out.len, 0);
    rsp_buf_free(&out);
}

/* The [PYSIM-BSP] chains through one keyed context: same outputs as
 * rsp_bsp_unwrap; failures (MAC, order, replay) leave it usable. */
static void test_bsp_ctx_chain(void)
{
    static uint8_t w1[64], w2[128], w3[128], seg[64];
    size_t l1 = hx(M51_W1, w1, sizeof(w1));
    size_t l2 = hx(M51_W2, w2, sizeof(w2));
    size_t l3 = hx(M51_W3, w3, sizeof(w3));
    struct rsp_bsp b, z;
    struct rsp_bsp_ctx *c = NULL;
    uint8_t p3[64];

    memset(&z, 0, sizeof(z));
    CU_ASSERT_RC(rsp_bsp_ctx_new(&z, &c), RSP_ERR_STATE);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_RC(rsp_bsp_ctx_new(NULL, &c), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_bsp_ctx_unwrap(NULL, RSP_BSP_ENC_MAC, w1, l1, p3, NULL),
                 RSP_ERR_INVAL);

    bsp_from_hex(&b, M51_S_ENC, M51_S_MAC, M51_MCV);
    CU_ASSERT_RC(rsp_bsp_ctx_new(&b, &c), RSP_OK);
    rsp_bsp_wipe(&b);
    if (!c)
        return;
    /* out of order: 2 and 3 before 1 (wrong chaining value and counter) */
    ctx_unwrap_fails(c, RSP_BSP_MAC_ONLY, w2, l2, RSP_ERR_VERIFY, "ctx 88 first");
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, w3, l3, RSP_ERR_VERIFY, "ctx 87#2 first");
    /* tampered MAC */
    memcpy(seg, w1, l1);
    seg[l1 - 1] ^= 0x01;
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, seg, l1, RSP_ERR_VERIFY, "ctx tampered MAC");
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, w1, l1 - 1, RSP_ERR_DECODE, "ctx truncated");
    /* then the right order still works */
    ctx_unwrap_eq(c, RSP_BSP_ENC_MAC, M51_W1, M51_P1, 0x87, "ctx 87 ConfigureISDP");
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_VERIFY, "ctx replay of 87");
    ctx_unwrap_eq(c, RSP_BSP_MAC_ONLY, M51_W2, M51_P2, 0x88, "ctx 88 StoreMetadata");
    ctx_unwrap_eq(c, RSP_BSP_ENC_MAC, M51_W3, M51_P3, 0x87, "ctx 87 ReplaceSessionKeys");
    hx(M51_P3, p3, sizeof(p3));
    CU_ASSERT_RC(rsp_bsp_ctx_replace_keys(c, p3 + 23, p3 + 41, p3 + 5), RSP_OK);
    /* the old keys no longer verify */
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_VERIFY, "ctx old keys");
    ctx_unwrap_eq(c, RSP_BSP_ENC_MAC, PPK_SEG0_WIRE, PPK_SEG0_PLAIN, 0x86, "ctx 86 segment 0");
    ctx_unwrap_eq(c, RSP_BSP_ENC_MAC, PPK_SEG1_WIRE, PPK_SEG1_PLAIN, 0x86, "ctx 86 segment 1");
    /* a replace with no keys leaves a context that refuses everything */
    CU_ASSERT_RC(rsp_bsp_ctx_replace_keys(c, NULL, NULL, NULL), RSP_ERR_INVAL);
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, w1, l1, RSP_ERR_STATE, "ctx after bad replace");
    rsp_bsp_ctx_free(c);

    /* [PYSIM-BSP] TestBSPdecode through a context */
    bsp_from_hex(&b, DEC_S_ENC, DEC_S_MAC, DEC_MCV);
    CU_ASSERT_RC(rsp_bsp_ctx_new(&b, &c), RSP_OK);
    rsp_bsp_wipe(&b);
    ctx_unwrap_eq(c, RSP_BSP_ENC_MAC, DEC_W87, "bf2400", 0x87, "ctx decode 87");
    ctx_unwrap_eq(c, RSP_BSP_MAC_ONLY, DEC_W88, DEC_P88, 0x88, "ctx decode 88");
    rsp_bsp_ctx_free(c);
    rsp_bsp_ctx_free(NULL);
}

/* Many segments (the restart path of every context), MAC failure and bad
 * padding in the middle: the context agrees with rsp_bsp_unwrap. */
static void test_bsp_ctx_many(void)
{
    static uint8_t plain[6000], seg[1100];
    uint8_t k1[16], k2[16], mcv[16], padded[32];
    struct rsp_bsp w, u, copy;
    struct rsp_bsp_ctx *c = NULL;
    struct rsp_buf wire, got, ref;
    size_t off = 0, n;
    uint8_t tag;

    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < 16; i++) {
        k1[i] = (uint8_t)i;
        k2[i] = (uint8_t)(0xF0 - i);
        mcv[i] = (uint8_t)(i * 3);
    }
    rsp_bsp_init(&w, k1, k2, mcv);
    rsp_bsp_init(&u, k1, k2, mcv);
    CU_ASSERT_RC(rsp_bsp_ctx_new(&u, &c), RSP_OK);
    if (!c)
        return;
    rsp_buf_init(&wire, 16384);
    rsp_buf_init(&got, 16384);
    rsp_buf_init(&ref, 16384);
    CU_ASSERT_RC(rsp_bsp_wrap_all(&w, 0x86, RSP_BSP_ENC_MAC, plain, sizeof(plain), &wire),
                 RSP_OK);
    while (off < wire.len) {
        size_t hl = wire.data[off + 1] == 0x82 ? 4 : wire.data[off + 1] == 0x81 ? 3 : 2;
        size_t vl = hl == 4 ? (size_t)wire.data[off + 2] << 8 | wire.data[off + 3]
                  : hl == 3 ? wire.data[off + 2] : wire.data[off + 1];

        /* a flipped bit in the MAC first: refused, state kept */
        memcpy(seg, wire.data + off, hl + vl);
        seg[hl + vl - 1] ^= 0x40;
        ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, seg, hl + vl, RSP_ERR_VERIFY, "ctx many MAC");
        CU_ASSERT_RC(rsp_bsp_ctx_unwrap(c, RSP_BSP_ENC_MAC, wire.data + off, hl + vl, &tag,
                                        &got), RSP_OK);
        CU_ASSERT_RC(rsp_bsp_unwrap(&u, RSP_BSP_ENC_MAC, wire.data + off, hl + vl, &tag,
                                    &ref), RSP_OK);
        off += hl + vl;
    }
    CU_ASSERT_BYTES("ctx many segments", got.data, got.len, plain, sizeof(plain));
    CU_ASSERT_BYTES("ctx vs rsp_bsp_unwrap", got.data, got.len, ref.data, ref.len);

    /* right MAC, no 80 in the padding: DECODE, then the real next one */
    memset(padded, 0, sizeof(padded));
    padded[31] = 0x01;
    copy = u;
    n = forge_segment(&copy, padded, sizeof(padded), seg);
    ctx_unwrap_fails(c, RSP_BSP_ENC_MAC, seg, n, RSP_ERR_DECODE, "ctx bad padding");
    rsp_buf_reset(&wire);
    CU_ASSERT_RC(rsp_bsp_wrap(&w, 0x86, RSP_BSP_ENC_MAC, plain, 100, &wire), RSP_OK);
    rsp_buf_reset(&got);
    CU_ASSERT_RC(rsp_bsp_ctx_unwrap(c, RSP_BSP_ENC_MAC, wire.data, wire.len, &tag, &got),
                 RSP_OK);
    CU_ASSERT_BYTES("ctx after bad padding", got.data, got.len, plain, 100);
    rsp_buf_free(&wire);
    rsp_buf_free(&got);
    rsp_buf_free(&ref);
    rsp_bsp_ctx_free(c);
    rsp_bsp_wipe(&w);
    rsp_bsp_wipe(&u);
    rsp_bsp_wipe(&copy);
}

static void test_bsp_limits(void)
{
    static uint8_t plain[3000];
    struct rsp_bsp dp, eu;
    struct rsp_buf out, back;
    uint8_t tag;
    size_t off, n;

    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + 3);
    bsp_from_hex(&dp, M51_S_ENC, M51_S_MAC, M51_MCV);
    eu = dp;
    rsp_buf_init(&out, 8192);

    /* largest segments are exactly 1020 bytes, one more byte is too big */
    CU_ASSERT_EQUAL(rsp_bsp_plain_max(RSP_BSP_ENC_MAC), 1007);
    CU_ASSERT_EQUAL(rsp_bsp_plain_max(RSP_BSP_MAC_ONLY), 1008);
    CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x86, RSP_BSP_ENC_MAC, plain, 1007, &out), RSP_OK);
    CU_ASSERT_EQUAL(out.len, 1020);
    rsp_buf_init(&back, 2048);
    CU_ASSERT_RC(rsp_bsp_unwrap(&eu, RSP_BSP_ENC_MAC, out.data, out.len, &tag, &back), RSP_OK);
    CU_ASSERT_BYTES("1007-byte segment", back.data, back.len, plain, 1007);
    rsp_buf_free(&back);
    rsp_buf_reset(&out);
    CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x86, RSP_BSP_ENC_MAC, plain, 1008, &out), RSP_ERR_TOOBIG);
    CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x88, RSP_BSP_MAC_ONLY, plain, 1008, &out), RSP_OK);
    CU_ASSERT_EQUAL(out.len, 1020);
    rsp_buf_reset(&out);
    CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x88, RSP_BSP_MAC_ONLY, plain, 1009, &out), RSP_ERR_TOOBIG);
    /* re-synchronise the eUICC side on the 88 it did not see */
    eu = dp;

    /* empty, one block, one block + 1: padding always present */
    {
        static const size_t sizes[] = { 0, 1, 15, 16, 17, 127, 128, 239, 240 };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t ct = (sizes[i] / 16 + 1) * 16;
            rsp_buf_reset(&out);
            CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x87, RSP_BSP_ENC_MAC, plain, sizes[i], &out), RSP_OK);
            CU_ASSERT_EQUAL(out.len, 1 + (ct + 8 < 0x80 ? 1 : ct + 8 < 0x100 ? 2 : 3) + ct + 8);
            rsp_buf_init(&back, 2048);
            CU_ASSERT_RC(rsp_bsp_unwrap(&eu, RSP_BSP_ENC_MAC, out.data, out.len, &tag, &back), RSP_OK);
            CU_ASSERT_EQUAL(tag, 0x87);
            CU_ASSERT_BYTES("enc round trip", back.data, back.len, plain, sizes[i]);
            rsp_buf_free(&back);
        }
    }

    /* wrap_all splits 3000 bytes into 1007 + 1007 + 986 */
    rsp_buf_reset(&out);
    CU_ASSERT_RC(rsp_bsp_wrap_all(&dp, 0x86, RSP_BSP_ENC_MAC, plain, sizeof(plain), &out), RSP_OK);
    rsp_buf_init(&back, 4096);
    for (off = 0, n = 0; off < out.len; n++) {
        size_t len = out.data[off + 1] == 0x82 ?
            4 + ((size_t)out.data[off + 2] << 8 | out.data[off + 3]) : 0;
        CU_ASSERT_FATAL(len > 0 && len <= 1020 && off + len <= out.len);
        CU_ASSERT_RC(rsp_bsp_unwrap(&eu, RSP_BSP_ENC_MAC, out.data + off, len, &tag, &back), RSP_OK);
        off += len;
    }
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_BYTES("wrap_all round trip", back.data, back.len, plain, sizeof(plain));
    rsp_buf_free(&back);
    CU_ASSERT_RC(rsp_bsp_wrap_all(&dp, 0x86, RSP_BSP_ENC_MAC, plain, 0, &out), RSP_ERR_INVAL);

    /* out's cap too small: error, buffer freed, session unchanged */
    {
        struct rsp_bsp before = dp;
        struct rsp_buf small;
        rsp_buf_init(&small, 100);
        CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x86, RSP_BSP_ENC_MAC, plain, 200, &small), RSP_ERR_TOOBIG);
        CU_ASSERT_EQUAL(small.len, 0);
        CU_ASSERT_EQUAL(memcmp(&before, &dp, sizeof(dp)), 0);
        rsp_buf_free(&small);
    }

    /* bad arguments */
    CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x1F, RSP_BSP_ENC_MAC, plain, 1, &out), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x86, 2, plain, 1, &out), RSP_ERR_INVAL);
    {
        struct rsp_bsp z;
        memset(&z, 0, sizeof(z));
        CU_ASSERT_RC(rsp_bsp_wrap(&z, 0x86, RSP_BSP_ENC_MAC, plain, 1, &out), RSP_ERR_STATE);
        rsp_bsp_init(&z, NULL, NULL, NULL);
        CU_ASSERT_RC(rsp_bsp_wrap(&z, 0x86, RSP_BSP_ENC_MAC, plain, 1, &out), RSP_ERR_STATE);
    }
    rsp_buf_free(&out);
    rsp_bsp_wipe(&dp);
    rsp_bsp_wipe(&eu);
}

/* Both curves end to end with fresh one-time keys, as in a download:
 * otPK exchanged as points, ShS on each side, same session keys, a
 * protected 87/88/86 sequence read back by the other side. */
static void test_bsp_session_both_curves(void)
{
    static const int cs[] = { RSP_CURVE_P256, RSP_CURVE_BRAINPOOLP256R1 };
    static const uint8_t eid[16] = { 0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x51, 0x23,
                                     0x45, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x35 };
    static const uint8_t host[16] = "TEST SM-DP+ id!";

    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *eu_sk = NULL, *dp_sk = NULL, *eu_pk = NULL, *dp_pk = NULL;
        uint8_t pt[65], s1[32], s2[32], tag;
        struct rsp_bsp_keys k1, k2;
        struct rsp_bsp dp, eu;
        struct rsp_buf wire, back;
        static const uint8_t md[] = { 0xBF, 0x25, 0x03, 0x5A, 0x01, 0x89 };

        CU_ASSERT_RC(rsp_ec_key_generate(cs[i], &eu_sk), RSP_OK);
        CU_ASSERT_RC(rsp_ec_key_generate(cs[i], &dp_sk), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(eu_sk, pt), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_from_point(cs[i], pt, 65, &eu_pk), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(dp_sk, pt), RSP_OK);
        CU_ASSERT_RC(rsp_ec_pubkey_from_point(cs[i], pt, 65, &dp_pk), RSP_OK);
        CU_ASSERT_RC(rsp_ecka_derive(dp_sk, eu_pk, s1), RSP_OK);
        CU_ASSERT_RC(rsp_ecka_derive(eu_sk, dp_pk, s2), RSP_OK);
        CU_ASSERT_BYTES("ShS both sides", s1, 32, s2, 32);
        CU_ASSERT_RC(rsp_bsp_kdf(s1, 0x88, 0x10, host, 16, eid, &k1), RSP_OK);
        CU_ASSERT_RC(rsp_bsp_kdf(s2, 0x88, 0x10, host, 16, eid, &k2), RSP_OK);
        CU_ASSERT_EQUAL(memcmp(&k1, &k2, sizeof(k1)), 0);
        rsp_bsp_init_keys(&dp, &k1);
        rsp_bsp_init_keys(&eu, &k2);

        rsp_buf_init(&wire, 4096);
        rsp_buf_init(&back, 4096);
        CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x87, RSP_BSP_ENC_MAC, (const uint8_t *)"\xBF\x24\x00", 3, &wire), RSP_OK);
        CU_ASSERT_RC(rsp_bsp_unwrap(&eu, RSP_BSP_ENC_MAC, wire.data, wire.len, &tag, &back), RSP_OK);
        CU_ASSERT_BYTES("87 plain", back.data, back.len, (const uint8_t *)"\xBF\x24\x00", 3);
        rsp_buf_reset(&wire);
        rsp_buf_reset(&back);
        CU_ASSERT_RC(rsp_bsp_wrap(&dp, 0x88, RSP_BSP_MAC_ONLY, md, sizeof(md), &wire), RSP_OK);
        /* MAC-only: the plaintext is on the wire */
        CU_ASSERT_BYTES("88 carries plaintext", wire.data + 2, sizeof(md), md, sizeof(md));
        CU_ASSERT_RC(rsp_bsp_unwrap(&eu, RSP_BSP_MAC_ONLY, wire.data, wire.len, &tag, &back), RSP_OK);
        CU_ASSERT_EQUAL(tag, 0x88);
        CU_ASSERT_EQUAL(memcmp(&dp, &eu, sizeof(dp)), 0);
        CU_ASSERT_EQUAL(dp.counter, 3);
        rsp_buf_free(&wire);
        rsp_buf_free(&back);

        rsp_bsp_wipe(&dp);
        rsp_bsp_wipe(&eu);
        rsp_bsp_keys_wipe(&k1);
        rsp_bsp_keys_wipe(&k2);
        rsp_ec_key_free(eu_sk);
        rsp_ec_key_free(dp_sk);
        rsp_ec_key_free(eu_pk);
        rsp_ec_key_free(dp_pk);
    }
}

CU_TestInfo crypto_tests[] = {
    { "curve_names", test_curve_names },
    { "ec_generate", test_ec_generate },
    { "ec_scalar_kat", test_ec_scalar_kat },
    { "ec_point_validation", test_ec_point_validation },
    { "ec_pem", test_ec_pem },
    { "ecdsa_sgp26_roundtrip", test_ecdsa_sgp26_roundtrip },
    { "ecdsa_verify_kat", test_ecdsa_verify_kat },
    { "ecdsa_noncanonical", test_ecdsa_noncanonical },
    { "ecka_kat", test_ecka_kat },
    { "ecka_negative", test_ecka_negative },
    { "x963_kdf", test_x963_kdf },
    { "bsp_kdf", test_bsp_kdf },
    { "aes_cmac", test_aes_cmac },
    { "bsp_wrap_chain_p256", test_bsp_wrap_chain_p256 },
    { "bsp_unwrap_chain_p256", test_bsp_unwrap_chain_p256 },
    { "bsp_unwrap_negative", test_bsp_unwrap_negative },
    { "bsp_ctx_chain", test_bsp_ctx_chain },
    { "bsp_ctx_many", test_bsp_ctx_many },
    { "bsp_limits", test_bsp_limits },
    { "bsp_session_both_curves", test_bsp_session_both_curves },
    CU_TEST_INFO_NULL,
};
