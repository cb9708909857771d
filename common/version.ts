/** The version both binaries report (agent hello, collector build info). Keep in step with package.json. */
export const NETSONAR_VERSION = '0.1.0';
