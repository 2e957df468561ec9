export { CertificateAuthority, certificateFingerprint, type CertifiedKey, type CreateCertificateAuthorityParameters, type IssuedCertificate } from './certificate-authority.js';
export {
  BUNDLE_VERSION,
  CertificateBundleSchema,
  assembleParticipantKit,
  certificateBundlePath,
  loadCertificateBundle,
  type AssembleParticipantKitParameters,
  type AssembleParticipantKitResult,
  type CertificateBundle,
} from './certificate-bundle.js';
export {
  CertificateRequestSchema,
  REQUEST_VERSION,
  createCertificateRequest,
  signingProofMessage,
  verifyCertificateRequests,
  type CertificateRequest,
  type VerifiedCertificateRequest,
} from './certificate-request.js';
export { AUTH_HTTP_STATUS, AuthError, type AuthErrorCode } from './errors.js';
export { provisionWithLocalKeys, type ProvisionWithLocalKeysParameters, type ProvisionWithLocalKeysResult } from './local-provision.js';
export {
  OPERATORS_FILE_VERSION,
  OPERATOR_ROLES,
  OperatorCredentialsSchema,
  OperatorNameSchema,
  addOperator,
  findOperator,
  isScrapeToken,
  issueOperatorCredentials,
  loadOperatorCredentials,
  operatorCredentialsPath,
  parseOperatorGrants,
  removeOperator,
  tokenDigest,
  type AddOperatorResult,
  type OperatorCredentials,
  type OperatorGrant,
  type OperatorIdentity,
  type OperatorRole,
} from './operator-credentials.js';
export { participantOfCertificate, tlsOptionsForClient, tlsOptionsForServer, type PeerCertificateFields } from './mutual-tls.js';
export {
  GenerateParticipantKeysParametersSchema,
  KEY_FILE_VERSION,
  ParticipantKeyFileSchema,
  certificateRequestPath,
  generateParticipantKeys,
  loadParticipantKeyFile,
  participantKeyPath,
  type GenerateParticipantKeysParameters,
  type GenerateParticipantKeysResult,
  type ParticipantKeyFile,
} from './participant-keys.js';
export { ProvisionParametersSchema, provision, revokeParticipant, type ProvisionParameters, type ProvisionResult, type RevokeResult } from './provision.js';
export { ReplayGuard } from './replay-guard.js';
export { rosterKeys, rosterSignedBy, signRoster } from './roster.js';
export { RevocationListSchema, RevokedParticipantSchema, loadRevocationList, type RevocationList, type RevokedParticipant } from './revocation-list.js';
export { FRAME_KIND_PATTERN, FrameVersionError, encodeSignedFrame, openSignedFrame, signedFramePayloadOffset, type OpenedFrame } from './signed-frame.js';
export {
  DEFAULT_SKEW_MS,
  MessageVerifier,
  directoryOfServerKit,
  signerFromKit,
  type MessageSigner,
  type MessageVerifierOptions,
  type ParticipantDirectory,
  type SignedEnvelope,
  type Transport,
} from './signed-message.js';
export { SIGNATURE_HEADERS, signRequest, verifyRequest, type IncomingHeaders, type SignatureHeaders, type VerifiedRequest } from './signed-request.js';
export { generateSigningKeyPair, type SigningKeyPair } from './signing-key.js';
export {
  KIT_VERSION,
  PARTICIPANT_ID_PATTERN,
  ParticipantIdSchema,
  ParticipantKitSchema,
  RegisteredParticipantSchema,
  ServerKitSchema,
  loadParticipantKit,
  loadServerKit,
  participantKitPath,
  revocationListPath,
  serverKitPath,
  type ParticipantKit,
  type RegisteredParticipant,
  type Roster,
  type ServerKit,
  type ServerKitFile,
} from './startup-kit.js';
