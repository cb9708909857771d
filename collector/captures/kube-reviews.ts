import { AuthenticationV1Api, AuthorizationV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  CAPTURE_API_GROUP,
  CAPTURE_RESOURCE,
  type CaptureVerb,
  type Identity,
  type KubeReviews,
} from './auth.js';

/**
 * TokenReview and SubjectAccessReview through @kubernetes/client-node. The collector's service
 * account needs `create` on tokenreviews.authentication.k8s.io and
 * subjectaccessreviews.authorization.k8s.io (the built-in ClusterRole system:auth-delegator).
 */
export function kubeReviews(kubeconfig: string, timeoutMs = 5_000): KubeReviews {
  const kc = new KubeConfig();
  if (kubeconfig === 'in-cluster') kc.loadFromCluster();
  else kc.loadFromFile(kubeconfig);
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    tokenReview: async (token) => {
      const res = await withTimeout(
        authn.createTokenReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        }),
        timeoutMs,
      );
      const s = res.status;
      if (s?.authenticated !== true || s.user?.username === undefined) return { authenticated: false };
      return {
        authenticated: true,
        username: s.user.username,
        uid: s.user.uid ?? '',
        groups: s.user.groups ?? [],
        extra: s.user.extra ?? {},
      };
    },
    subjectAccessReview: async (who: Identity, verb: CaptureVerb, namespace: string | undefined) => {
      const res = await withTimeout(
        authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: who.name,
              uid: who.uid,
              groups: [...who.groups],
              extra: Object.fromEntries(Object.entries(who.extra).map(([k, v]) => [k, [...v]])),
              resourceAttributes: {
                group: CAPTURE_API_GROUP,
                resource: CAPTURE_RESOURCE,
                verb,
                ...(namespace === undefined ? {} : { namespace }),
              },
            },
          },
        }),
        timeoutMs,
      );
      return res.status?.allowed === true && res.status.denied !== true;
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
